#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "arch/aarch64/board.h"
#include "boot/boot_assets.h"
#include "kvm/kvm.h"
#include "memory/guest_memory.h"
#include "spore/manifest.h"
#include "vmm/mmio_bus.h"
#include "vmm/vcpu_runner.h"

namespace spore {

class ChunkStore;
class GenerationDevice;
class VirtioDevice;
class VirtioMmioTransport;
class VsockDevice;

// What varies between machines built on the fixed board.
struct MachineConfig {
    unsigned vcpu_count = 1;
    uint64_t ram_size = 0;
    const GuestKernel* kernel = nullptr;
    std::span<const uint8_t> initrd;
    // Appended to the board's kernel command line.
    std::string extra_bootargs;
    // Adds earlycon on the debug UART and verbose kernel logging.
    bool verbose_kernel = false;
    // Receives guest console output, a line or more at a time.
    std::function<void(std::string_view)> console_sink;
    // Logs guest writes so that capture() hashes only what changed.
    bool capturable = false;
};

// How to bring a captured machine back.
struct RestoreConfig {
    const Manifest* manifest = nullptr;
    ChunkStore* chunks = nullptr;     // the spore's verified chunk store
    std::function<void(std::string_view)> console_sink;
    // Try the same-host RAM backing file before the chunks.
    bool use_backing_file = true;
    // Logs guest writes so that a later capture hashes only what changed.
    bool capturable = false;
};

// How a machine stopped.
struct MachineStop {
    VcpuStop reason = VcpuStop::Requested;
    std::optional<Error> fault;
};

// A running instance of the board: guest RAM, vCPU threads, the in-kernel
// GIC and the devices. Created stopped; start() boots the kernel.
class Machine {
public:
    static Result<std::unique_ptr<Machine>> create(const MachineConfig& config);
    ~Machine();

    // Rebuilds a captured machine, checking the spore's platform contract
    // against this host first. Nothing of the guest runs until start().
    static Result<std::unique_ptr<Machine>> restore(const RestoreConfig& config);

    Result<void> start();

    // Parks the vCPUs, quiesces the devices and describes the machine:
    // platform contract, vCPU, GIC and device state, and guest RAM as chunks
    // written into store (only chunks dirtied since the baseline are
    // hashed). The agent and session fields are left to the caller. The
    // machine stays paused: resume_after_capture() or stop() follows.
    Result<Manifest> capture(ChunkStore& store);
    Result<void> resume_after_capture();
    // The RAM that clean chunks still hold: the spore this machine was
    // restored from or last captured to.
    void set_memory_baseline(MemoryIndex index, std::unique_ptr<ChunkStore> store);
    // Blocks until the machine stops by itself or through stop(); returns
    // nothing if the deadline passes first.
    std::optional<MachineStop> wait_until(std::chrono::steady_clock::time_point deadline);
    // Stops every vCPU and waits for their threads.
    void stop();
    // Runs hook once, on the thread that stops the machine, when it stops;
    // at once if it already has. An empty hook removes the previous one.
    void set_stop_hook(std::function<void()> hook);

    VsockDevice& vsock() { return *m_vsock; }

    // Hands the guest a new generation through the generation device and
    // raises its interrupt. Only before start() or while paused.
    Result<void> present_generation(uint64_t generation, const std::string& parameters_json);
    GuestMemory& memory() { return m_memory; }

private:
    Machine(kvm::Kvm kvm, kvm::Vm vm, GuestMemory memory);

    static Result<std::unique_ptr<Machine>> create_empty(GuestMemory memory, bool capturable);
    Result<void> create_debug_uart(std::function<void(std::string_view)> sink);
    Result<void> create_generation_device(const NamedValues* saved_state);
    void map_generation_params(const GenerationDevice& device);
    std::unique_ptr<InterruptLine> make_interrupt_line(uint32_t intid);
    Result<void> restore_devices(const Manifest& manifest);
    Result<std::vector<bool>> dirty_chunks(uint64_t chunk_size);
    Result<void> pause_all();
    void resume_all();
    Result<void> create_vcpus(unsigned count);
    Result<void> create_devices(const MachineConfig& config);
    Result<void> attach_virtio(board::VirtioSlot slot, std::unique_ptr<VirtioDevice> device);
    Result<void> load_boot_payload(const MachineConfig& config);
    void on_vcpu_stop(unsigned index, VcpuStop reason, const Error* fault);

    kvm::Kvm m_kvm;
    kvm::Vm m_vm;
    GuestMemory m_memory;
    MmioBus m_bus;
    // Interrupt lines outlive the devices that drive them.
    std::vector<std::unique_ptr<InterruptLine>> m_interrupt_lines;
    std::vector<std::unique_ptr<MmioDevice>> m_devices;
    VsockDevice* m_vsock = nullptr;
    GenerationDevice* m_generation = nullptr;
    std::vector<std::pair<std::string, VirtioMmioTransport*>> m_transports;
    uint64_t m_ram_size = 0;
    std::function<void(std::string_view)> m_console_sink;
    bool m_capturable = false;
    std::optional<MemoryIndex> m_baseline;
    std::unique_ptr<ChunkStore> m_baseline_store;
    std::vector<std::unique_ptr<VcpuRunner>> m_vcpus;

    std::mutex m_stop_lock;
    std::condition_variable m_stopped;
    std::optional<MachineStop> m_stop;
    std::function<void()> m_stop_hook; // guarded by m_stop_lock
};

} // namespace spore
