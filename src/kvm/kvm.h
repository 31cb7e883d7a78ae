#pragma once

// The KVM backend. This directory is the only code that includes
// <linux/kvm.h>; everything above it sees these small types instead of
// kvm_run, ioctl numbers or register encodings.

#include <array>
#include <cstdint>
#include <span>
#include <vector>

#include "common/error.h"
#include "common/unique_fd.h"
#include "memory/guest_memory.h"

struct kvm_run;

namespace spore::kvm {

// VGIC device attribute groups used for save and restore.
enum class GicGroup {
    Distributor,    // KVM_DEV_ARM_VGIC_GRP_DIST_REGS
    Redistributor,  // KVM_DEV_ARM_VGIC_GRP_REDIST_REGS
    CpuInterface,   // KVM_DEV_ARM_VGIC_GRP_CPU_SYSREGS
    LevelInfo,      // KVM_DEV_ARM_VGIC_GRP_LEVEL_INFO
};

// The host's counter frequency (CNTFRQ_EL0), which a spore must match.
uint64_t host_counter_frequency();

// Why KVM_RUN returned, reduced to what the monitor acts on.
enum class ExitKind {
    MmioRead,    // the guest reads device memory; answer with complete_mmio_read()
    MmioWrite,   // the guest writes device memory
    SystemOff,   // PSCI SYSTEM_OFF
    SystemReset, // PSCI SYSTEM_RESET (also what a panicking guest does with panic=-1)
    Interrupted, // a signal or immediate_exit kicked the vCPU out
    Unexpected,  // any other exit; reason() says which
};

struct VcpuExit {
    ExitKind kind = ExitKind::Unexpected;
    uint64_t address = 0;
    uint32_t length = 0;             // MMIO access width, 1 to 8 bytes
    std::array<uint8_t, 8> data{};   // MMIO write payload
    uint32_t reason = 0;             // the raw KVM exit reason, for error messages
};

// Asynchronous exception state KVM holds outside the register file.
struct VcpuEvents {
    bool serror_pending = false;
    bool serror_has_esr = false;
    uint64_t serror_esr = 0;
};

// An aarch64 system register by its encoding (op0, op1, CRn, CRm, op2).
struct SystemRegister {
    uint8_t op0, op1, crn, crm, op2;
};

// Architectural registers the boot path and the board need by name.
namespace registers {
constexpr SystemRegister mpidr_el1{3, 0, 0, 0, 5};
constexpr SystemRegister cntfrq_el0{3, 3, 14, 0, 0};
} // namespace registers

// One vCPU. run() must be called only from the thread that owns it; kick()
// may be called from any thread.
class Vcpu {
public:
    Vcpu(Vcpu&&) noexcept;
    Vcpu& operator=(Vcpu&&) = delete;
    ~Vcpu();

    unsigned index() const { return m_index; }

    // KVM_ARM_VCPU_INIT with the preferred target, PSCI 0.2, and powered
    // off unless this is the boot vCPU.
    Result<void> init(bool powered_off);

    Result<uint64_t> general_register(unsigned number);
    Result<void> set_general_register(unsigned number, uint64_t value);
    Result<void> set_pc(uint64_t value);
    Result<void> set_pstate(uint64_t value);
    Result<uint64_t> system_register(SystemRegister reg);

    // Every register KVM offers for this vCPU (KVM_GET_REG_LIST).
    Result<std::vector<uint64_t>> register_ids();
    // Raw access by KVM register id; the value is little-endian and as wide
    // as the id says (register_size()).
    Result<std::vector<uint8_t>> read_register(uint64_t id);
    Result<void> write_register(uint64_t id, std::span<const uint8_t> value);

    // Whether PSCI has this vCPU powered off (KVM_MP_STATE_STOPPED).
    Result<bool> powered_off();
    Result<void> set_powered_off(bool powered_off);

    // Pending SError state (KVM_GET_VCPU_EVENTS), by field name.
    Result<VcpuEvents> events();
    Result<void> set_events(const VcpuEvents& events);

    // Enters the guest until the next exit that needs the monitor.
    Result<VcpuExit> run();
    // Supplies the data for the MMIO read of the last exit; takes effect on
    // the next run().
    void complete_mmio_read(std::span<const uint8_t> data);
    // Makes the current or next run() return Interrupted promptly. Safe
    // from other threads; pair it with a signal to the owning thread.
    void request_immediate_exit(bool enabled);

private:
    friend class Vm;
    Vcpu(unsigned index, UniqueFd fd, kvm_run* run, size_t run_size, int vm_fd);
    Result<void> set_one_register(uint64_t id, uint64_t value);
    Result<uint64_t> one_register(uint64_t id);

    unsigned m_index;
    UniqueFd m_fd;
    kvm_run* m_run;
    size_t m_run_size;
    int m_vm_fd;
};

// A VM: memory slots, vCPUs, the in-kernel GICv3 and interrupt lines.
class Vm {
public:
    Vm(Vm&&) = default;
    Vm& operator=(Vm&&) = default;

    // Registers guest RAM as memory slot 0, optionally with dirty-page
    // logging so that capture can find what the guest wrote.
    Result<void> add_memory(GuestMemory& memory, bool log_dirty_pages);
    // Maps size bytes of host memory at host (page aligned) into the guest
    // at guest_address as memory slot `slot` (not 0), read-only: guest
    // reads are plain loads, guest writes exit as MMIO writes. NotSupported
    // when the host lacks KVM_CAP_READONLY_MEM.
    Result<void> add_readonly_memory(uint32_t slot, uint64_t guest_address, const void* host, uint64_t size);
    Result<Vcpu> create_vcpu(unsigned index);

    // Creates the in-kernel GICv3 at the given frames. Call after every vCPU
    // is created and before any is initialized.
    Result<void> create_gic_v3(uint64_t distributor_base, uint64_t redistributor_base);
    // Completes GIC setup with the number of interrupt lines. Call after
    // every vCPU is initialized.
    Result<void> finalize_gic(uint32_t interrupt_count);

    // Drives a shared peripheral interrupt line; intid is 32 or more.
    Result<void> set_spi_level(uint32_t intid, bool asserted);

    // Reads and writes GIC state through the VGIC device attributes
    // (Documentation/virt/kvm/devices/arm-vgic-v3.rst). Only while no vCPU
    // runs.
    Result<uint32_t> gic_read_u32(GicGroup group, uint64_t attribute);
    Result<void> gic_write_u32(GicGroup group, uint64_t attribute, uint32_t value);
    Result<uint64_t> gic_read_u64(GicGroup group, uint64_t attribute);
    Result<void> gic_write_u64(GicGroup group, uint64_t attribute, uint64_t value);

    // The pages of slot 0 written by the guest since the last call, one bit
    // per host page (KVM_GET_DIRTY_LOG). Needs add_memory(..., true).
    Result<std::vector<uint64_t>> take_dirty_pages();

private:
    friend class Kvm;
    Vm(UniqueFd fd, size_t run_size) : m_fd(std::move(fd)), m_run_size(run_size) {}

    UniqueFd m_fd;
    UniqueFd m_gic;
    size_t m_run_size;
    uint64_t m_memory_size = 0;
};

// /dev/kvm.
class Kvm {
public:
    // Opens /dev/kvm and checks the capabilities SporeVM relies on.
    static Result<Kvm> open();
    Result<Vm> create_vm();

private:
    explicit Kvm(UniqueFd fd, size_t run_size) : m_fd(std::move(fd)), m_run_size(run_size) {}

    UniqueFd m_fd;
    size_t m_run_size;
};

} // namespace spore::kvm
