#include "arch/aarch64/device_tree.h"

#include <libfdt.h>

#include <cinttypes>
#include <cstdio>

namespace spore {

namespace {

constexpr uint32_t gic_phandle = 1;

// FDT interrupt specifier fields for the GICv3 binding.
constexpr uint32_t irq_type_spi = 0;
constexpr uint32_t irq_type_ppi = 1;
constexpr uint32_t irq_level_high = 4;

// Accumulates libfdt's sequential-write calls and remembers the first
// failure, so that building reads as a plain list of nodes.
class FdtWriter {
public:
    explicit FdtWriter(size_t capacity) : m_blob(capacity)
    {
        m_status = fdt_create(m_blob.data(), static_cast<int>(m_blob.size()));
        check(m_status == 0 ? fdt_finish_reservemap(m_blob.data()) : m_status);
    }

    void begin(const char* name) { check(fdt_begin_node(m_blob.data(), name)); }
    void end() { check(fdt_end_node(m_blob.data())); }
    void string(const char* name, const char* value) { check(fdt_property_string(m_blob.data(), name, value)); }
    void u32(const char* name, uint32_t value) { check(fdt_property_u32(m_blob.data(), name, value)); }
    void u64(const char* name, uint64_t value) { check(fdt_property_u64(m_blob.data(), name, value)); }
    void empty(const char* name) { check(fdt_property(m_blob.data(), name, nullptr, 0)); }
    void bytes(const char* name, std::span<const uint8_t> value)
    {
        check(fdt_property(m_blob.data(), name, value.data(), static_cast<int>(value.size())));
    }

    // A list of big-endian 32-bit cells.
    void cells(const char* name, std::initializer_list<uint32_t> values)
    {
        std::vector<fdt32_t> encoded;
        for (uint32_t value : values)
            encoded.push_back(cpu_to_fdt32(value));
        check(fdt_property(m_blob.data(), name, encoded.data(), static_cast<int>(encoded.size() * 4)));
    }

    // A reg property with 2-cell addresses and sizes.
    void reg(std::initializer_list<std::pair<uint64_t, uint64_t>> ranges)
    {
        std::vector<fdt64_t> encoded;
        for (auto [address, size] : ranges) {
            encoded.push_back(cpu_to_fdt64(address));
            encoded.push_back(cpu_to_fdt64(size));
        }
        check(fdt_property(m_blob.data(), "reg", encoded.data(), static_cast<int>(encoded.size() * 8)));
    }

    // A string list property ("a\0b\0").
    void strings(const char* name, std::initializer_list<const char*> values)
    {
        std::string joined;
        for (const char* value : values) {
            joined += value;
            joined.push_back('\0');
        }
        check(fdt_property(m_blob.data(), name, joined.data(), static_cast<int>(joined.size())));
    }

    Result<std::vector<uint8_t>> finish()
    {
        check(fdt_finish(m_blob.data()));
        if (m_status != 0)
            return Error::invalid(std::string("device tree: ") + fdt_strerror(m_status));
        m_blob.resize(fdt_totalsize(m_blob.data()));
        return std::move(m_blob);
    }

private:
    void check(int status)
    {
        if (m_status == 0 && status < 0)
            m_status = status;
    }

    std::vector<uint8_t> m_blob;
    int m_status = 0;
};

std::string node_name(const char* prefix, uint64_t address)
{
    char name[64];
    std::snprintf(name, sizeof name, "%s@%" PRIx64, prefix, address);
    return name;
}

void add_cpus(FdtWriter& fdt, const std::vector<uint64_t>& mpidrs)
{
    fdt.begin("cpus");
    fdt.u32("#address-cells", 2);
    fdt.u32("#size-cells", 0);
    for (uint64_t mpidr : mpidrs) {
        // The reg of a cpu node holds the MPIDR affinity fields only.
        uint64_t affinity = mpidr & 0xff'00ff'ffffULL;
        fdt.begin(node_name("cpu", affinity).c_str());
        fdt.string("device_type", "cpu");
        fdt.string("compatible", "arm,armv8");
        fdt.string("enable-method", "psci");
        fdt.cells("reg", {static_cast<uint32_t>(affinity >> 32), static_cast<uint32_t>(affinity)});
        fdt.end();
    }
    fdt.end();
}

void add_interrupt_controller(FdtWriter& fdt)
{
    fdt.begin(node_name("intc", board::gic_distributor_base).c_str());
    fdt.string("compatible", "arm,gic-v3");
    fdt.empty("interrupt-controller");
    fdt.u32("#interrupt-cells", 3);
    fdt.reg({{board::gic_distributor_base, board::gic_distributor_size},
             {board::gic_redistributor_base, board::gic_redistributor_size}});
    fdt.u32("phandle", gic_phandle);
    fdt.end();
}

void add_timer(FdtWriter& fdt)
{
    fdt.begin("timer");
    fdt.string("compatible", "arm,armv8-timer");
    fdt.cells("interrupts", {irq_type_ppi, board::timer_ppi_secure, irq_level_high,
                             irq_type_ppi, board::timer_ppi_nonsecure, irq_level_high,
                             irq_type_ppi, board::timer_ppi_virtual, irq_level_high,
                             irq_type_ppi, board::timer_ppi_hypervisor, irq_level_high});
    fdt.empty("always-on");
    fdt.end();
}

void add_virtio(FdtWriter& fdt, board::VirtioSlot slot)
{
    uint64_t address = board::virtio_slot_address(slot);
    fdt.begin(node_name("virtio_mmio", address).c_str());
    fdt.string("compatible", "virtio,mmio");
    fdt.reg({{address, board::virtio_mmio_stride}});
    fdt.cells("interrupts", {irq_type_spi, board::virtio_slot_intid(slot) - board::spi_base, irq_level_high});
    fdt.empty("dma-coherent");
    fdt.end();
}

void add_generation_device(FdtWriter& fdt)
{
    fdt.begin(node_name("generation", board::generation_base).c_str());
    fdt.string("compatible", board::generation_compatible);
    fdt.reg({{board::generation_base, board::generation_size}});
    fdt.cells("interrupts", {irq_type_spi, board::generation_spi, irq_level_high});
    fdt.end();
}

void add_chosen(FdtWriter& fdt, const DeviceTreeConfig& config)
{
    fdt.begin("chosen");
    fdt.string("bootargs", config.bootargs.c_str());
    if (config.initrd_size > 0) {
        fdt.u64("linux,initrd-start", config.initrd_address);
        fdt.u64("linux,initrd-end", config.initrd_address + config.initrd_size);
    }
    if (!config.rng_seed.empty())
        fdt.bytes("rng-seed", config.rng_seed);
    fdt.end();
}

} // namespace

Result<std::vector<uint8_t>> build_device_tree(const DeviceTreeConfig& config)
{
    if (config.vcpu_mpidrs.empty() || config.vcpu_mpidrs.size() > board::max_vcpus)
        return Error::invalid("device tree: vCPU count out of range");

    FdtWriter fdt(board::fdt_max_size);
    fdt.begin("");
    fdt.string("compatible", "sporevm,board-v1");
    fdt.string("model", "SporeVM aarch64 board");
    fdt.u32("#address-cells", 2);
    fdt.u32("#size-cells", 2);
    fdt.u32("interrupt-parent", gic_phandle);

    add_chosen(fdt, config);
    fdt.begin(node_name("memory", board::ram_base).c_str());
    fdt.string("device_type", "memory");
    fdt.reg({{board::ram_base, config.ram_size}});
    fdt.end();
    add_cpus(fdt, config.vcpu_mpidrs);
    fdt.begin("psci");
    fdt.strings("compatible", {"arm,psci-1.0", "arm,psci-0.2"});
    fdt.string("method", "hvc");
    fdt.end();
    add_interrupt_controller(fdt);
    add_timer(fdt);
    for (auto slot : config.virtio_slots)
        add_virtio(fdt, slot);
    add_generation_device(fdt);

    fdt.end();
    return fdt.finish();
}

} // namespace spore
