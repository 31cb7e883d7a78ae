#pragma once

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <functional>
#include <optional>
#include <pthread.h>
#include <thread>

#include "kvm/kvm.h"
#include "vmm/mmio_bus.h"

namespace spore {

// Why a vCPU stopped running.
enum class VcpuStop {
    PowerOff,  // the guest asked for PSCI SYSTEM_OFF
    Reset,     // the guest asked for PSCI SYSTEM_RESET (a panicking kernel does)
    Requested, // the monitor asked it to stop
    Fault,     // KVM failed or reported an exit the board cannot handle
};

// Runs one vCPU on its own thread, as a three-state machine:
// Running: enter the guest and serve its MMIO exits.
// Paused: parked outside KVM_RUN with any pending MMIO completed, so its
//   registers can be read or written from another thread; resume() returns
//   it to Running.
// Finished: the guest stopped the machine, a fault happened or stop() was
//   requested; it reports once through the callback and the thread exits.
class VcpuRunner {
public:
    using StopCallback = std::function<void(unsigned index, VcpuStop reason, const Error* fault)>;

    VcpuRunner(kvm::Vcpu vcpu, MmioBus& bus, StopCallback on_stop);
    VcpuRunner(const VcpuRunner&) = delete;
    VcpuRunner& operator=(const VcpuRunner&) = delete;
    ~VcpuRunner();

    kvm::Vcpu& vcpu() { return m_vcpu; }

    void start();
    // Parks the vCPU and waits until it is parked or finished. Returns
    // false if it finished instead.
    bool pause();
    void resume();
    // Asks the thread to leave the guest and finish; returns at once. Safe
    // from any thread, including other vCPU threads.
    void stop();
    void join();

private:
    enum class State { Running, Paused, Finished };

    void thread_main();
    State running();
    State paused();
    void kick();
    std::optional<VcpuStop> serve(const kvm::VcpuExit& exit);

    kvm::Vcpu m_vcpu;
    MmioBus& m_bus;
    StopCallback m_on_stop;
    std::optional<Error> m_fault;
    std::thread m_thread;
    std::atomic<bool> m_stop_requested{false};
    std::atomic<bool> m_thread_ready{false};
    std::atomic<bool> m_pause_requested{false};

    std::mutex m_park_lock;
    std::condition_variable m_park_changed;
    bool m_parked = false;   // guarded by m_park_lock
    bool m_finished = false; // guarded by m_park_lock
    pthread_t m_native_handle{};
};

} // namespace spore
