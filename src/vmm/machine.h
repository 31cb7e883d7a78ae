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
#include "vmm/mmio_bus.h"
#include "vmm/vcpu_runner.h"

namespace spore {

class VirtioDevice;
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

    Result<void> start();
    // Blocks until the machine stops by itself or through stop(); returns
    // nothing if the deadline passes first.
    std::optional<MachineStop> wait_until(std::chrono::steady_clock::time_point deadline);
    // Stops every vCPU and waits for their threads.
    void stop();

    VsockDevice& vsock() { return *m_vsock; }
    GuestMemory& memory() { return m_memory; }

private:
    Machine(kvm::Kvm kvm, kvm::Vm vm, GuestMemory memory);

    Result<void> create_vcpus(const MachineConfig& config);
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
    std::vector<std::unique_ptr<VcpuRunner>> m_vcpus;

    std::mutex m_stop_lock;
    std::condition_variable m_stopped;
    std::optional<MachineStop> m_stop;
};

} // namespace spore
