#include "kvm/kvm.h"

#include <fcntl.h>
#include <linux/kvm.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

#include <cerrno>
#include <cstring>
#include <algorithm>
#include <cstddef>
#include <string>
#include <utility>

namespace spore::kvm {

namespace {

// Core registers are addressed by their offset in struct kvm_regs, in
// 32-bit words.
uint64_t core_register_id(size_t byte_offset)
{
    return KVM_REG_ARM64 | KVM_REG_SIZE_U64 | KVM_REG_ARM_CORE | (byte_offset / sizeof(uint32_t));
}

uint64_t system_register_id(SystemRegister reg)
{
    return ARM64_SYS_REG(reg.op0, reg.op1, reg.crn, reg.crm, reg.op2);
}

int retry_ioctl(int fd, unsigned long request, void* argument)
{
    int result;
    do {
        result = ioctl(fd, request, argument);
    } while (result < 0 && errno == EINTR);
    return result;
}

Result<void> set_device_attribute(int device_fd, uint32_t group, uint64_t attribute, void* value)
{
    kvm_device_attr attr{};
    attr.group = group;
    attr.attr = attribute;
    attr.addr = reinterpret_cast<uint64_t>(value);
    if (retry_ioctl(device_fd, KVM_SET_DEVICE_ATTR, &attr) < 0)
        return Error::from_errno("kvm: gic attribute " + std::to_string(group) + "/" + std::to_string(attribute));
    return {};
}

} // namespace

Result<Kvm> Kvm::open()
{
    UniqueFd fd(::open("/dev/kvm", O_RDWR | O_CLOEXEC));
    if (!fd.valid()) {
        int saved = errno;
        if (saved == ENOENT)
            return Error::not_supported("kvm: /dev/kvm does not exist (is KVM enabled on this host?)");
        return Error::from_errno("kvm: open /dev/kvm", saved);
    }
    int version = ioctl(fd.get(), KVM_GET_API_VERSION, 0);
    if (version != KVM_API_VERSION)
        return Error::not_supported("kvm: unexpected api version " + std::to_string(version));

    struct Required {
        int capability;
        const char* name;
    };
    static constexpr Required required[] = {
        {KVM_CAP_ONE_REG, "ONE_REG"},
        {KVM_CAP_ARM_PSCI_0_2, "ARM_PSCI_0_2"},
        {KVM_CAP_DEVICE_CTRL, "DEVICE_CTRL"},
        {KVM_CAP_IMMEDIATE_EXIT, "IMMEDIATE_EXIT"},
        {KVM_CAP_USER_MEMORY, "USER_MEMORY"},
    };
    for (const auto& capability : required) {
        if (ioctl(fd.get(), KVM_CHECK_EXTENSION, capability.capability) <= 0)
            return Error::not_supported(std::string("kvm: missing capability ") + capability.name);
    }

    int run_size = ioctl(fd.get(), KVM_GET_VCPU_MMAP_SIZE, 0);
    if (run_size < static_cast<int>(sizeof(kvm_run)))
        return Error::from_errno("kvm: KVM_GET_VCPU_MMAP_SIZE");
    return Kvm(std::move(fd), static_cast<size_t>(run_size));
}

Result<Vm> Kvm::create_vm()
{
    int vm_fd = retry_ioctl(m_fd.get(), KVM_CREATE_VM, nullptr);
    if (vm_fd < 0)
        return Error::from_errno("kvm: KVM_CREATE_VM");
    return Vm(UniqueFd(vm_fd), m_run_size);
}

Result<void> Vm::add_memory(GuestMemory& memory)
{
    kvm_userspace_memory_region region{};
    region.slot = 0;
    region.guest_phys_addr = memory.base().value;
    region.memory_size = memory.size();
    region.userspace_addr = reinterpret_cast<uint64_t>(memory.unsafe_host_base());
    if (retry_ioctl(m_fd.get(), KVM_SET_USER_MEMORY_REGION, &region) < 0)
        return Error::from_errno("kvm: KVM_SET_USER_MEMORY_REGION");
    return {};
}

Result<Vcpu> Vm::create_vcpu(unsigned index)
{
    int fd = ioctl(m_fd.get(), KVM_CREATE_VCPU, static_cast<unsigned long>(index));
    if (fd < 0)
        return Error::from_errno("kvm: KVM_CREATE_VCPU " + std::to_string(index));
    UniqueFd vcpu_fd(fd);
    void* run = mmap(nullptr, m_run_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (run == MAP_FAILED)
        return Error::from_errno("kvm: mmap kvm_run");
    return Vcpu(index, std::move(vcpu_fd), static_cast<kvm_run*>(run), m_run_size, m_fd.get());
}

Result<void> Vm::create_gic_v3(uint64_t distributor_base, uint64_t redistributor_base)
{
    kvm_create_device device{};
    device.type = KVM_DEV_TYPE_ARM_VGIC_V3;
    if (retry_ioctl(m_fd.get(), KVM_CREATE_DEVICE, &device) < 0)
        return Error::from_errno("kvm: create GICv3 (does this host have a GICv3?)");
    m_gic = UniqueFd(static_cast<int>(device.fd));

    TRY(set_device_attribute(m_gic.get(), KVM_DEV_ARM_VGIC_GRP_ADDR, KVM_VGIC_V3_ADDR_TYPE_DIST,
                             &distributor_base));
    TRY(set_device_attribute(m_gic.get(), KVM_DEV_ARM_VGIC_GRP_ADDR, KVM_VGIC_V3_ADDR_TYPE_REDIST,
                             &redistributor_base));
    return {};
}

Result<void> Vm::finalize_gic(uint32_t interrupt_count)
{
    TRY(set_device_attribute(m_gic.get(), KVM_DEV_ARM_VGIC_GRP_NR_IRQS, 0, &interrupt_count));
    TRY(set_device_attribute(m_gic.get(), KVM_DEV_ARM_VGIC_GRP_CTRL, KVM_DEV_ARM_VGIC_CTRL_INIT, nullptr));
    return {};
}

Result<void> Vm::set_spi_level(uint32_t intid, bool asserted)
{
    kvm_irq_level level{};
    level.irq = (KVM_ARM_IRQ_TYPE_SPI << KVM_ARM_IRQ_TYPE_SHIFT) | intid;
    level.level = asserted ? 1 : 0;
    if (retry_ioctl(m_fd.get(), KVM_IRQ_LINE, &level) < 0)
        return Error::from_errno("kvm: KVM_IRQ_LINE " + std::to_string(intid));
    return {};
}

Vcpu::Vcpu(unsigned index, UniqueFd fd, kvm_run* run, size_t run_size, int vm_fd)
    : m_index(index), m_fd(std::move(fd)), m_run(run), m_run_size(run_size), m_vm_fd(vm_fd)
{
}

Vcpu::Vcpu(Vcpu&& other) noexcept
    : m_index(other.m_index), m_fd(std::move(other.m_fd)), m_run(std::exchange(other.m_run, nullptr)),
      m_run_size(other.m_run_size), m_vm_fd(other.m_vm_fd)
{
}

Vcpu::~Vcpu()
{
    if (m_run)
        munmap(m_run, m_run_size);
}

Result<void> Vcpu::init(bool powered_off)
{
    kvm_vcpu_init init{};
    if (retry_ioctl(m_vm_fd, KVM_ARM_PREFERRED_TARGET, &init) < 0)
        return Error::from_errno("kvm: KVM_ARM_PREFERRED_TARGET");
    init.features[0] |= 1u << KVM_ARM_VCPU_PSCI_0_2;
    if (powered_off)
        init.features[0] |= 1u << KVM_ARM_VCPU_POWER_OFF;
    if (retry_ioctl(m_fd.get(), KVM_ARM_VCPU_INIT, &init) < 0)
        return Error::from_errno("kvm: KVM_ARM_VCPU_INIT " + std::to_string(m_index));
    return {};
}

Result<void> Vcpu::set_one_register(uint64_t id, uint64_t value)
{
    kvm_one_reg reg{id, reinterpret_cast<uint64_t>(&value)};
    if (retry_ioctl(m_fd.get(), KVM_SET_ONE_REG, &reg) < 0)
        return Error::from_errno("kvm: KVM_SET_ONE_REG");
    return {};
}

Result<uint64_t> Vcpu::one_register(uint64_t id)
{
    uint64_t value = 0;
    kvm_one_reg reg{id, reinterpret_cast<uint64_t>(&value)};
    if (retry_ioctl(m_fd.get(), KVM_GET_ONE_REG, &reg) < 0)
        return Error::from_errno("kvm: KVM_GET_ONE_REG");
    return value;
}

Result<uint64_t> Vcpu::general_register(unsigned number)
{
    if (number > 30)
        return Error::invalid("kvm: general register number out of range");
    return one_register(core_register_id(offsetof(kvm_regs, regs.regs) + number * sizeof(uint64_t)));
}

Result<void> Vcpu::set_general_register(unsigned number, uint64_t value)
{
    if (number > 30)
        return Error::invalid("kvm: general register number out of range");
    return set_one_register(core_register_id(offsetof(kvm_regs, regs.regs) + number * sizeof(uint64_t)),
                            value);
}

Result<void> Vcpu::set_pc(uint64_t value)
{
    return set_one_register(core_register_id(offsetof(kvm_regs, regs.pc)), value);
}

Result<void> Vcpu::set_pstate(uint64_t value)
{
    return set_one_register(core_register_id(offsetof(kvm_regs, regs.pstate)), value);
}

Result<uint64_t> Vcpu::system_register(SystemRegister reg)
{
    return one_register(system_register_id(reg));
}

void Vcpu::request_immediate_exit(bool enabled)
{
    __atomic_store_n(&m_run->immediate_exit, enabled ? 1 : 0, __ATOMIC_SEQ_CST);
}

void Vcpu::complete_mmio_read(std::span<const uint8_t> data)
{
    auto length = std::min<size_t>(data.size(), sizeof m_run->mmio.data);
    std::memcpy(m_run->mmio.data, data.data(), length);
}

Result<VcpuExit> Vcpu::run()
{
    VcpuExit exit;
    if (ioctl(m_fd.get(), KVM_RUN, 0) < 0) {
        if (errno == EINTR || errno == EAGAIN) {
            exit.kind = ExitKind::Interrupted;
            return exit;
        }
        return Error::from_errno("kvm: KVM_RUN on vcpu " + std::to_string(m_index));
    }

    exit.reason = m_run->exit_reason;
    switch (m_run->exit_reason) {
    case KVM_EXIT_MMIO:
        exit.address = m_run->mmio.phys_addr;
        exit.length = std::min<uint32_t>(m_run->mmio.len, 8);
        if (m_run->mmio.is_write) {
            exit.kind = ExitKind::MmioWrite;
            std::memcpy(exit.data.data(), m_run->mmio.data, exit.length);
        } else {
            exit.kind = ExitKind::MmioRead;
        }
        break;
    case KVM_EXIT_SYSTEM_EVENT:
        if (m_run->system_event.type == KVM_SYSTEM_EVENT_SHUTDOWN)
            exit.kind = ExitKind::SystemOff;
        else if (m_run->system_event.type == KVM_SYSTEM_EVENT_RESET)
            exit.kind = ExitKind::SystemReset;
        break;
    case KVM_EXIT_INTR:
        exit.kind = ExitKind::Interrupted;
        break;
    default:
        break;
    }
    return exit;
}

} // namespace spore::kvm
