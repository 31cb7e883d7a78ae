#include "vmm/machine.h"

#include <unistd.h>

#include <sys/random.h>

#include <cinttypes>

#include "arch/aarch64/board.h"
#include "arch/aarch64/boot_layout.h"
#include "arch/aarch64/device_tree.h"
#include "common/log.h"
#include "virtio/mmio_transport.h"
#include "vmm/debug_uart.h"
#include "vmm/devices/console.h"
#include "vmm/devices/generation.h"
#include "vmm/devices/rng.h"
#include "spore/memory_image.h"
#include "vmm/devices/vsock.h"

namespace spore {

namespace {

// A GIC shared peripheral interrupt, driven through KVM_IRQ_LINE.
class KvmInterruptLine final : public InterruptLine {
public:
    KvmInterruptLine(kvm::Vm& vm, uint32_t intid) : m_vm(vm), m_intid(intid) {}

    void set_level(bool asserted) override
    {
        auto result = m_vm.set_spi_level(m_intid, asserted);
        if (!result && m_log.allow())
            log::warn("%s", result.error().message().c_str());
    }

private:
    kvm::Vm& m_vm;
    uint32_t m_intid;
    RateLimit m_log;
};

Result<void> check_config(const MachineConfig& config)
{
    if (config.vcpu_count < 1 || config.vcpu_count > board::max_vcpus)
        return Error::invalid("machine: --cpus must be between 1 and " + std::to_string(board::max_vcpus));
    if (config.ram_size < board::min_ram_size || config.ram_size > board::max_ram_size)
        return Error::invalid("machine: --memory must be between 64 MiB and 64 GiB");
    if (config.ram_size % board::ram_alignment != 0)
        return Error::invalid("machine: --memory must be a multiple of 2 MiB");
    if (!config.kernel)
        return Error::invalid("machine: no kernel");
    return {};
}

std::string kernel_command_line(const MachineConfig& config)
{
    // panic=-1 turns a guest panic into PSCI SYSTEM_RESET, which the
    // monitor reports instead of hanging.
    // The generation device is driven from user space through UIO.
    std::string line = "console=hvc0 panic=-1 rdinit=/init uio_pdrv_genirq.of_id=";
    line += board::generation_compatible;
    if (config.verbose_kernel) {
        char earlycon[64];
        std::snprintf(earlycon, sizeof earlycon, " earlycon=uart8250,mmio32,0x%" PRIx64 " loglevel=7",
                      board::debug_uart_base);
        line += earlycon;
    } else {
        line += " quiet loglevel=1";
    }
    if (!config.extra_bootargs.empty())
        line += " " + config.extra_bootargs;
    return line;
}

} // namespace

Machine::Machine(kvm::Kvm kvm, kvm::Vm vm, GuestMemory memory)
    : m_kvm(std::move(kvm)), m_vm(std::move(vm)), m_memory(std::move(memory))
{
}

Machine::~Machine() { stop(); }

Result<std::unique_ptr<Machine>> Machine::create_empty(GuestMemory memory, bool capturable)
{
    auto kvm = TRY(kvm::Kvm::open());
    auto vm = TRY(kvm.create_vm());
    TRY(vm.add_memory(memory, capturable));
    log::debug("vmm", "vm created, %" PRIu64 " MiB of RAM%s", memory.size() >> 20,
               capturable ? ", dirty logging on" : "");
    std::unique_ptr<Machine> machine(new Machine(std::move(kvm), std::move(vm), std::move(memory)));
    machine->m_ram_size = machine->m_memory.size();
    machine->m_capturable = capturable;
    return machine;
}

Result<std::unique_ptr<Machine>> Machine::create(const MachineConfig& config)
{
    TRY(check_config(config));
    auto memory = TRY(GuestMemory::create(GuestAddress(board::ram_base), config.ram_size));
    auto machine = TRY(create_empty(std::move(memory), config.capturable));
    if (config.capturable)
        machine->m_memory.track_writes(kDefaultChunkSize);
    TRY(machine->create_vcpus(config.vcpu_count));
    TRY(machine->create_devices(config));
    TRY(machine->load_boot_payload(config));
    return machine;
}

Result<void> Machine::create_vcpus(unsigned count)
{
    // KVM/arm64 wants every vCPU created before the GIC, and the GIC's
    // interrupt count set only after every vCPU is initialized.
    std::vector<kvm::Vcpu> vcpus;
    for (unsigned index = 0; index < count; index++)
        vcpus.push_back(TRY(m_vm.create_vcpu(index)));
    TRY(m_vm.create_gic_v3(board::gic_distributor_base, board::gic_redistributor_base));
    for (auto& vcpu : vcpus)
        TRY(vcpu.init(vcpu.index() != 0));
    TRY(m_vm.finalize_gic(board::gic_interrupt_count));

    for (auto& vcpu : vcpus) {
        m_vcpus.push_back(std::make_unique<VcpuRunner>(
            std::move(vcpu), m_bus,
            [this](unsigned index, VcpuStop reason, const Error* fault) { on_vcpu_stop(index, reason, fault); }));
    }
    log::debug("vmm", "%u vcpus and GICv3 ready", count);
    return {};
}

Result<void> Machine::load_boot_payload(const MachineConfig& config)
{
    const GuestKernel& kernel = *config.kernel;
    auto layout = TRY(plan_boot_layout(config.ram_size, kernel.header, config.initrd.size()));
    TRY(m_memory.write(GuestAddress(layout.kernel_address), kernel.image));
    if (!config.initrd.empty())
        TRY(m_memory.write(GuestAddress(layout.initrd_address), config.initrd));

    DeviceTreeConfig tree;
    tree.ram_size = config.ram_size;
    for (auto& runner : m_vcpus)
        tree.vcpu_mpidrs.push_back(TRY(runner->vcpu().system_register(kvm::registers::mpidr_el1)));
    tree.bootargs = kernel_command_line(config);
    tree.initrd_address = layout.initrd_address;
    tree.initrd_size = layout.initrd_size;
    tree.virtio_slots = {board::VirtioSlot::Console, board::VirtioSlot::Rng, board::VirtioSlot::Vsock};
    tree.rng_seed.resize(64);
    if (getrandom(tree.rng_seed.data(), tree.rng_seed.size(), 0) != static_cast<ssize_t>(tree.rng_seed.size()))
        return Error::from_errno("machine: getrandom");
    auto blob = TRY(build_device_tree(tree));
    TRY(m_memory.write(GuestAddress(layout.fdt_address), blob));

    // Boot protocol: x0 holds the device tree address, x1 to x3 are zero,
    // the boot vCPU starts at the kernel's first instruction in EL1h.
    kvm::Vcpu& boot = m_vcpus.front()->vcpu();
    TRY(boot.set_general_register(0, layout.fdt_address));
    for (unsigned reg = 1; reg <= 3; reg++)
        TRY(boot.set_general_register(reg, 0));
    TRY(boot.set_pc(layout.kernel_address));
    TRY(boot.set_pstate(board::boot_pstate));
    log::debug("vmm", "kernel at 0x%" PRIx64 ", initrd at 0x%" PRIx64 " (%" PRIu64 " bytes), dtb at 0x%" PRIx64,
               layout.kernel_address, layout.initrd_address, layout.initrd_size, layout.fdt_address);
    log::debug("vmm", "command line: %s", tree.bootargs.c_str());
    return {};
}

Result<void> Machine::attach_virtio(board::VirtioSlot slot, std::unique_ptr<VirtioDevice> device)
{
    auto& line = m_interrupt_lines.emplace_back(make_interrupt_line(board::virtio_slot_intid(slot)));
    auto transport = TRY(VirtioMmioTransport::create(std::move(device), m_memory, *line));
    m_bus.add(board::virtio_slot_address(slot), VirtioMmioTransport::kWindowSize, *transport);
    m_transports.emplace_back(board::virtio_slot_name(slot), transport.get());
    m_devices.push_back(std::move(transport));
    return {};
}

std::unique_ptr<InterruptLine> Machine::make_interrupt_line(uint32_t intid)
{
    return std::make_unique<KvmInterruptLine>(m_vm, intid);
}

Result<void> Machine::create_debug_uart(std::function<void(std::string_view)> sink)
{
    m_console_sink = sink;
    auto uart = std::make_unique<DebugUart>(std::move(sink));
    m_bus.add(board::debug_uart_base, board::debug_uart_size, *uart);
    m_devices.push_back(std::move(uart));
    return {};
}

Result<void> Machine::create_devices(const MachineConfig& config)
{
    TRY(create_debug_uart(config.console_sink));
    TRY(attach_virtio(board::VirtioSlot::Console, TRY(ConsoleDevice::create(config.console_sink))));
    TRY(attach_virtio(board::VirtioSlot::Rng, TRY(RngDevice::create())));
    auto vsock = TRY(VsockDevice::create(board::guest_cid));
    m_vsock = vsock.get();
    TRY(attach_virtio(board::VirtioSlot::Vsock, std::move(vsock)));
    return create_generation_device(nullptr);
}

Result<void> Machine::create_generation_device(const NamedValues* saved_state)
{
    auto& line = m_interrupt_lines.emplace_back(make_interrupt_line(board::generation_intid));
    auto device = TRY(GenerationDevice::create(*line));
    if (saved_state)
        TRY_CONTEXT(device->restore_state(*saved_state), "generation device");
    m_bus.add(board::generation_base, board::generation_size, *device);
    map_generation_params(*device);
    m_generation = device.get();
    m_devices.push_back(std::move(device));
    return {};
}

// Reading the parameters through MMIO costs the guest an exit per 8
// bytes. Mapped read-only, the page reads like memory; the bus still
// takes (and the device ignores) writes to it. A slot must be whole host
// pages, so a host with pages larger than 4 KiB keeps the MMIO path.
void Machine::map_generation_params(const GenerationDevice& device)
{
    constexpr uint32_t params_slot = 1; // slot 0 is RAM
    auto page = device.params_page();
    std::string why;
    if (static_cast<size_t>(sysconf(_SC_PAGESIZE)) != page.size()) {
        why = "host pages are not 4 KiB";
    } else if (auto mapped = m_vm.add_readonly_memory(params_slot, board::generation_base + GenerationDevice::kParamsOffset,
                                                      page.data(), page.size());
               !mapped) {
        why = mapped.error().message();
    } else {
        log::debug("vmm", "generation parameters mapped read-only into the guest");
        return;
    }
    log::debug("vmm", "generation parameters read through MMIO: %s", why.c_str());
}

Result<void> Machine::present_generation(uint64_t generation, const std::string& parameters_json)
{
    return m_generation->present(generation, parameters_json);
}

Result<void> Machine::start()
{
    for (auto& runner : m_vcpus)
        runner->start();
    log::debug("vmm", "vcpus running");
    return {};
}

void Machine::on_vcpu_stop(unsigned index, VcpuStop reason, const Error* fault)
{
    std::function<void()> hook;
    {
        std::lock_guard guard(m_stop_lock);
        if (!m_stop) {
            m_stop = MachineStop{reason, fault ? std::optional<Error>(*fault) : std::nullopt};
            hook = std::move(m_stop_hook);
            log::debug("vmm", "vcpu %u stopped the machine", index);
        }
    }
    m_stopped.notify_all();
    if (hook)
        hook();
    // The other vCPUs have nothing left to do once one stopped the machine.
    for (auto& runner : m_vcpus)
        runner->stop();
}

void Machine::set_stop_hook(std::function<void()> hook)
{
    std::unique_lock guard(m_stop_lock);
    if (m_stop) {
        guard.unlock();
        if (hook)
            hook();
        return;
    }
    m_stop_hook = std::move(hook);
}

std::optional<MachineStop> Machine::wait_until(std::chrono::steady_clock::time_point deadline)
{
    std::unique_lock guard(m_stop_lock);
    m_stopped.wait_until(guard, deadline, [this] { return m_stop.has_value(); });
    return m_stop;
}

void Machine::stop()
{
    for (auto& runner : m_vcpus)
        runner->stop();
    for (auto& runner : m_vcpus)
        runner->join();
}

} // namespace spore
