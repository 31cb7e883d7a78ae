#pragma once

#include <atomic>
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

// Runs one vCPU on its own thread. The thread is a two-state machine:
// Running (enter the guest, serve its MMIO exits) until the guest stops the
// machine, a fault happens or stop() is requested; then Finished, when it
// reports once through the callback and exits.
class VcpuRunner {
public:
    using StopCallback = std::function<void(unsigned index, VcpuStop reason, const Error* fault)>;

    VcpuRunner(kvm::Vcpu vcpu, MmioBus& bus, StopCallback on_stop);
    VcpuRunner(const VcpuRunner&) = delete;
    VcpuRunner& operator=(const VcpuRunner&) = delete;
    ~VcpuRunner();

    kvm::Vcpu& vcpu() { return m_vcpu; }

    void start();
    // Asks the thread to leave the guest and finish; returns at once. Safe
    // from any thread, including other vCPU threads.
    void stop();
    void join();

private:
    enum class State { Running, Finished };

    void thread_main();
    State running();
    std::optional<VcpuStop> serve(const kvm::VcpuExit& exit);

    kvm::Vcpu m_vcpu;
    MmioBus& m_bus;
    StopCallback m_on_stop;
    std::optional<Error> m_fault;
    std::thread m_thread;
    std::atomic<bool> m_stop_requested{false};
    std::atomic<bool> m_thread_ready{false};
    pthread_t m_native_handle{};
};

} // namespace spore
