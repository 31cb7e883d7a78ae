#include "kvm/kvm.h"

#include "kvm/register_names.h"

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

// register_names.h encodes the KVM ABI by hand so that it builds natively;
// hold it to the kernel's headers here.
static_assert(register_id::arch_arm64 == KVM_REG_ARM64);
static_assert(register_id::size_u32 == KVM_REG_SIZE_U32);
static_assert(register_id::size_u64 == KVM_REG_SIZE_U64);
static_assert(register_id::size_u128 == KVM_REG_SIZE_U128);
static_assert(register_id::coprocessor_core == KVM_REG_ARM_CORE);
static_assert(register_id::coprocessor_demux == KVM_REG_ARM_DEMUX);
static_assert(register_id::coprocessor_system == KVM_REG_ARM64_SYSREG);
static_assert(register_id::coprocessor_firmware == KVM_REG_ARM_FW);
static_assert(register_id::coprocessor_firmware_bitmap == KVM_REG_ARM_FW_FEAT_BMAP);
static_assert(register_id::timer_control == KVM_REG_ARM_TIMER_CTL);
static_assert(register_id::timer_counter == KVM_REG_ARM_TIMER_CNT);
static_assert(register_id::timer_compare == KVM_REG_ARM_TIMER_CVAL);
static_assert(offsetof(kvm_regs, regs.sp) / 4 == 62);
static_assert(offsetof(kvm_regs, regs.pc) / 4 == 64);
static_assert(offsetof(kvm_regs, regs.pstate) / 4 == 66);
static_assert(offsetof(kvm_regs, sp_el1) / 4 == 68);
static_assert(offsetof(kvm_regs, elr_el1) / 4 == 70);
static_assert(offsetof(kvm_regs, spsr) / 4 == 72);
static_assert(offsetof(kvm_regs, fp_regs.vregs) / 4 == 84);
static_assert(offsetof(kvm_regs, fp_regs.fpsr) / 4 == 212);
static_assert(offsetof(kvm_regs, fp_regs.fpcr) / 4 == 213);

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

Result<void> Vm::add_memory(GuestMemory& memory, bool log_dirty_pages)
{
    kvm_userspace_memory_region region{};
    region.slot = 0;
    region.flags = log_dirty_pages ? KVM_MEM_LOG_DIRTY_PAGES : 0;
    region.guest_phys_addr = memory.base().value;
    region.memory_size = memory.size();
    region.userspace_addr = reinterpret_cast<uint64_t>(memory.unsafe_host_base());
    if (retry_ioctl(m_fd.get(), KVM_SET_USER_MEMORY_REGION, &region) < 0)
        return Error::from_errno("kvm: KVM_SET_USER_MEMORY_REGION");
    m_memory_size = memory.size();
    return {};
}

Result<void> Vm::add_readonly_memory(uint32_t slot, uint64_t guest_address, const void* host, uint64_t size)
{
    if (ioctl(m_fd.get(), KVM_CHECK_EXTENSION, KVM_CAP_READONLY_MEM) <= 0)
        return Error::not_supported("kvm: no read-only memory slots (KVM_CAP_READONLY_MEM)");
    kvm_userspace_memory_region region{};
    region.slot = slot;
    region.flags = KVM_MEM_READONLY;
    region.guest_phys_addr = guest_address;
    region.memory_size = size;
    region.userspace_addr = reinterpret_cast<uint64_t>(host);
    if (retry_ioctl(m_fd.get(), KVM_SET_USER_MEMORY_REGION, &region) < 0)
        return Error::from_errno("kvm: KVM_SET_USER_MEMORY_REGION (read-only slot)");
    return {};
}

Result<std::vector<uint64_t>> Vm::take_dirty_pages()
{
    auto page_size = static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
    uint64_t pages = m_memory_size / page_size;
    std::vector<uint64_t> bitmap((pages + 63) / 64, 0);
    kvm_dirty_log log{};
    log.slot = 0;
    log.dirty_bitmap = bitmap.data();
    if (retry_ioctl(m_fd.get(), KVM_GET_DIRTY_LOG, &log) < 0)
        return Error::from_errno("kvm: KVM_GET_DIRTY_LOG");
    return bitmap;
}

namespace {

uint32_t gic_group_number(GicGroup group)
{
    switch (group) {
    case GicGroup::Distributor: return KVM_DEV_ARM_VGIC_GRP_DIST_REGS;
    case GicGroup::Redistributor: return KVM_DEV_ARM_VGIC_GRP_REDIST_REGS;
    case GicGroup::CpuInterface: return KVM_DEV_ARM_VGIC_GRP_CPU_SYSREGS;
    case GicGroup::LevelInfo: return KVM_DEV_ARM_VGIC_GRP_LEVEL_INFO;
    }
    return 0;
}

std::string gic_attribute_text(GicGroup group, uint64_t attribute)
{
    char text[64];
    std::snprintf(text, sizeof text, "group %u attribute 0x%llx", gic_group_number(group),
                  static_cast<unsigned long long>(attribute));
    return text;
}

} // namespace

Result<uint32_t> Vm::gic_read_u32(GicGroup group, uint64_t attribute)
{
    uint32_t value = 0;
    kvm_device_attr attr{0, gic_group_number(group), attribute, reinterpret_cast<uint64_t>(&value)};
    if (retry_ioctl(m_gic.get(), KVM_GET_DEVICE_ATTR, &attr) < 0)
        return Error::from_errno("kvm: read gic " + gic_attribute_text(group, attribute));
    return value;
}

Result<void> Vm::gic_write_u32(GicGroup group, uint64_t attribute, uint32_t value)
{
    kvm_device_attr attr{0, gic_group_number(group), attribute, reinterpret_cast<uint64_t>(&value)};
    if (retry_ioctl(m_gic.get(), KVM_SET_DEVICE_ATTR, &attr) < 0)
        return Error::from_errno("kvm: write gic " + gic_attribute_text(group, attribute));
    return {};
}

Result<uint64_t> Vm::gic_read_u64(GicGroup group, uint64_t attribute)
{
    uint64_t value = 0;
    kvm_device_attr attr{0, gic_group_number(group), attribute, reinterpret_cast<uint64_t>(&value)};
    if (retry_ioctl(m_gic.get(), KVM_GET_DEVICE_ATTR, &attr) < 0)
        return Error::from_errno("kvm: read gic " + gic_attribute_text(group, attribute));
    return value;
}

Result<void> Vm::gic_write_u64(GicGroup group, uint64_t attribute, uint64_t value)
{
    kvm_device_attr attr{0, gic_group_number(group), attribute, reinterpret_cast<uint64_t>(&value)};
    if (retry_ioctl(m_gic.get(), KVM_SET_DEVICE_ATTR, &attr) < 0)
        return Error::from_errno("kvm: write gic " + gic_attribute_text(group, attribute));
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

Result<std::vector<uint64_t>> Vcpu::register_ids()
{
    kvm_reg_list probe{};
    probe.n = 0;
    // The first call fails with E2BIG and reports how many ids there are.
    if (ioctl(m_fd.get(), KVM_GET_REG_LIST, &probe) < 0 && errno != E2BIG)
        return Error::from_errno("kvm: KVM_GET_REG_LIST");
    std::vector<uint64_t> storage(probe.n + 1);
    auto* list = reinterpret_cast<kvm_reg_list*>(storage.data());
    list->n = probe.n;
    if (retry_ioctl(m_fd.get(), KVM_GET_REG_LIST, list) < 0)
        return Error::from_errno("kvm: KVM_GET_REG_LIST");
    return std::vector<uint64_t>(list->reg, list->reg + list->n);
}

Result<std::vector<uint8_t>> Vcpu::read_register(uint64_t id)
{
    unsigned size = register_size(id);
    if (size == 0)
        return Error::not_supported("kvm: register id with unsupported size");
    std::vector<uint8_t> value(size);
    kvm_one_reg reg{id, reinterpret_cast<uint64_t>(value.data())};
    if (retry_ioctl(m_fd.get(), KVM_GET_ONE_REG, &reg) < 0)
        return Error::from_errno("kvm: KVM_GET_ONE_REG " + register_name(id).value_or("unnamed"));
    return value;
}

Result<void> Vcpu::write_register(uint64_t id, std::span<const uint8_t> value)
{
    if (value.size() != register_size(id))
        return Error::invalid("kvm: register value has the wrong width");
    kvm_one_reg reg{id, reinterpret_cast<uint64_t>(value.data())};
    if (retry_ioctl(m_fd.get(), KVM_SET_ONE_REG, &reg) < 0)
        return Error::from_errno("kvm: KVM_SET_ONE_REG " + register_name(id).value_or("unnamed"));
    return {};
}

Result<bool> Vcpu::powered_off()
{
    kvm_mp_state state{};
    if (retry_ioctl(m_fd.get(), KVM_GET_MP_STATE, &state) < 0)
        return Error::from_errno("kvm: KVM_GET_MP_STATE");
    return state.mp_state == KVM_MP_STATE_STOPPED;
}

Result<void> Vcpu::set_powered_off(bool powered_off)
{
    kvm_mp_state state{static_cast<__u32>(powered_off ? KVM_MP_STATE_STOPPED : KVM_MP_STATE_RUNNABLE)};
    if (retry_ioctl(m_fd.get(), KVM_SET_MP_STATE, &state) < 0)
        return Error::from_errno("kvm: KVM_SET_MP_STATE");
    return {};
}

Result<VcpuEvents> Vcpu::events()
{
    kvm_vcpu_events raw{};
    if (retry_ioctl(m_fd.get(), KVM_GET_VCPU_EVENTS, &raw) < 0)
        return Error::from_errno("kvm: KVM_GET_VCPU_EVENTS");
    return VcpuEvents{raw.exception.serror_pending != 0, raw.exception.serror_has_esr != 0,
                      raw.exception.serror_esr};
}

Result<void> Vcpu::set_events(const VcpuEvents& events)
{
    kvm_vcpu_events raw{};
    raw.exception.serror_pending = events.serror_pending;
    raw.exception.serror_has_esr = events.serror_has_esr;
    raw.exception.serror_esr = events.serror_esr;
    if (retry_ioctl(m_fd.get(), KVM_SET_VCPU_EVENTS, &raw) < 0)
        return Error::from_errno("kvm: KVM_SET_VCPU_EVENTS");
    return {};
}

uint64_t host_counter_frequency()
{
    uint64_t frequency;
    asm volatile("mrs %0, cntfrq_el0" : "=r"(frequency));
    return frequency;
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
