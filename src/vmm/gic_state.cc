#include "vmm/gic_state.h"

#include <functional>

#include "arch/aarch64/board.h"
#include "common/hex_value.h"

namespace spore {

namespace {

using kvm::GicGroup;

// A 32-bit register or a bank of them: name, first offset, count, stride.
struct RegisterBank {
    const char* name;
    uint64_t offset;
    unsigned first; // index of the first instance saved
    unsigned count;
    unsigned stride;
};

constexpr unsigned spi_words = board::gic_interrupt_count / 32; // one bit per interrupt

// Distributor registers for SPIs (the SGI/PPI parts of these banks live in
// the redistributors under affinity routing). Listed in restore order:
// configuration first, state next, enables last.
const RegisterBank distributor_banks[] = {
    {"GICD_CTLR", 0x0000, 0, 1, 4},
    {"GICD_IGROUPR", 0x0080, 1, spi_words - 1, 4},
    {"GICD_IGRPMODR", 0x0d00, 1, spi_words - 1, 4},
    {"GICD_IPRIORITYR", 0x0400, 8, board::gic_interrupt_count / 4 - 8, 4},
    {"GICD_ICFGR", 0x0c00, 2, board::gic_interrupt_count / 16 - 2, 4},
    {"GICD_ISPENDR", 0x0200, 1, spi_words - 1, 4},
    {"GICD_ISACTIVER", 0x0300, 1, spi_words - 1, 4},
    {"GICD_ISENABLER", 0x0100, 1, spi_words - 1, 4},
};
constexpr uint64_t distributor_iidr = 0x0008;
constexpr uint64_t distributor_irouter = 0x6000;

constexpr uint64_t sgi_frame = 0x10000;
const RegisterBank redistributor_banks[] = {
    {"GICR_CTLR", 0x0000, 0, 1, 4},
    {"GICR_IGROUPR", sgi_frame + 0x0080, 0, 1, 4},
    {"GICR_IGRPMODR", sgi_frame + 0x0d00, 0, 1, 4},
    {"GICR_IPRIORITYR", sgi_frame + 0x0400, 0, 8, 4},
    {"GICR_ICFGR", sgi_frame + 0x0c00, 0, 2, 4},
    {"GICR_ISPENDR", sgi_frame + 0x0200, 0, 1, 4},
    {"GICR_ISACTIVER", sgi_frame + 0x0300, 0, 1, 4},
    {"GICR_ISENABLER", sgi_frame + 0x0100, 0, 1, 4},
};

// CPU interface registers by encoding, in restore order.
struct CpuInterfaceRegister {
    const char* name;
    unsigned op0, op1, crn, crm, op2;
};
const CpuInterfaceRegister cpu_interface_registers[] = {
    {"ICC_SRE_EL1", 3, 0, 12, 12, 5},     {"ICC_CTLR_EL1", 3, 0, 12, 12, 4},
    {"ICC_PMR_EL1", 3, 0, 4, 6, 0},       {"ICC_BPR0_EL1", 3, 0, 12, 8, 3},
    {"ICC_BPR1_EL1", 3, 0, 12, 12, 3},    {"ICC_IGRPEN0_EL1", 3, 0, 12, 12, 6},
    {"ICC_IGRPEN1_EL1", 3, 0, 12, 12, 7},
};
constexpr unsigned icc_ctlr_priority_bits_shift = 8;

uint64_t instruction_encoding(unsigned op0, unsigned op1, unsigned crn, unsigned crm, unsigned op2)
{
    return uint64_t{op0} << 14 | uint64_t{op1} << 11 | uint64_t{crn} << 7 | uint64_t{crm} << 3 | op2;
}

// The GIC attribute encoding of a vCPU: affinity levels packed into bits
// 63..32 (Aff3, Aff2, Aff1, Aff0).
uint64_t affinity_attribute(uint64_t mpidr)
{
    uint64_t packed = (mpidr >> 32 & 0xff) << 24 | (mpidr >> 16 & 0xff) << 16 | (mpidr >> 8 & 0xff) << 8 | (mpidr & 0xff);
    return packed << 32;
}

std::string instance_name(const RegisterBank& bank, unsigned index)
{
    return bank.count == 1 && bank.first == 0 && std::string(bank.name).ends_with("CTLR")
               ? bank.name
               : bank.name + std::to_string(index);
}

// Active priority registers: 1, 2 or 4 of each group, by priority bits.
std::vector<CpuInterfaceRegister> active_priority_registers(uint64_t icc_ctlr)
{
    unsigned priority_bits = static_cast<unsigned>((icc_ctlr >> icc_ctlr_priority_bits_shift) & 7) + 1;
    unsigned count = priority_bits >= 7 ? 4 : priority_bits == 6 ? 2 : 1;
    static const char* const names0[] = {"ICC_AP0R0_EL1", "ICC_AP0R1_EL1", "ICC_AP0R2_EL1", "ICC_AP0R3_EL1"};
    static const char* const names1[] = {"ICC_AP1R0_EL1", "ICC_AP1R1_EL1", "ICC_AP1R2_EL1", "ICC_AP1R3_EL1"};
    std::vector<CpuInterfaceRegister> registers;
    for (unsigned index = 0; index < count; index++)
        registers.push_back({names0[index], 3, 0, 12, 8, 4 + index});
    for (unsigned index = 0; index < count; index++)
        registers.push_back({names1[index], 3, 0, 12, 9, index});
    return registers;
}

// Visits every 32-bit register of the banks with its name and attribute.
void for_each_register(std::span<const RegisterBank> banks, uint64_t attribute_base,
                       const std::function<void(const std::string&, uint64_t)>& visit)
{
    for (const auto& bank : banks) {
        for (unsigned index = bank.first; index < bank.first + bank.count; index++)
            visit(instance_name(bank, index), attribute_base | (bank.offset + uint64_t{index} * bank.stride));
    }
}

Result<NamedValues> save_banks(kvm::Vm& vm, GicGroup group, std::span<const RegisterBank> banks, uint64_t base)
{
    NamedValues values;
    std::optional<Error> failure;
    for_each_register(banks, base, [&](const std::string& name, uint64_t attribute) {
        if (failure)
            return;
        auto value = vm.gic_read_u32(group, attribute);
        if (!value)
            failure = value.error();
        else
            values[name] = format_hex_u32(*value);
    });
    if (failure)
        return *failure;
    return values;
}

// Writes every bank register from values, consuming the names it used.
Result<void> restore_banks(kvm::Vm& vm, GicGroup group, std::span<const RegisterBank> banks, uint64_t base,
                           NamedValues& values)
{
    std::optional<Error> failure;
    for_each_register(banks, base, [&](const std::string& name, uint64_t attribute) {
        if (failure)
            return;
        auto found = values.find(name);
        if (found == values.end()) {
            failure = Error::invalid("gic: spore lacks " + name);
            return;
        }
        auto value = parse_hex_u32(found->second, name);
        auto written = value ? vm.gic_write_u32(group, attribute, *value) : Result<void>(value.error());
        if (!written)
            failure = written.error();
        values.erase(found);
    });
    if (failure)
        return *failure;
    return {};
}

Result<void> refuse_leftovers(const NamedValues& values, const char* where)
{
    if (!values.empty())
        return Error::invalid(std::string("gic: unknown ") + where + " register " + values.begin()->first);
    return {};
}

Result<NamedValues> save_distributor(kvm::Vm& vm)
{
    auto values = TRY(save_banks(vm, GicGroup::Distributor, distributor_banks, 0));
    values["GICD_IIDR"] = format_hex_u32(TRY(vm.gic_read_u32(GicGroup::Distributor, distributor_iidr)));
    for (unsigned intid = board::spi_base; intid < board::gic_interrupt_count; intid++) {
        uint64_t offset = distributor_irouter + uint64_t{intid} * 8;
        uint64_t low = TRY(vm.gic_read_u32(GicGroup::Distributor, offset));
        uint64_t high = TRY(vm.gic_read_u32(GicGroup::Distributor, offset + 4));
        values["GICD_IROUTER" + std::to_string(intid)] = format_hex_u64(high << 32 | low);
    }
    return values;
}

Result<void> restore_distributor(kvm::Vm& vm, NamedValues values)
{
    // The implementation revision goes first: it selects the semantics of
    // the other registers (arm-vgic-v3.rst).
    auto iidr = values.find("GICD_IIDR");
    if (iidr == values.end())
        return Error::invalid("gic: spore lacks GICD_IIDR");
    TRY(vm.gic_write_u32(GicGroup::Distributor, distributor_iidr, TRY(parse_hex_u32(iidr->second, "GICD_IIDR"))));
    values.erase(iidr);

    for (unsigned intid = board::spi_base; intid < board::gic_interrupt_count; intid++) {
        std::string name = "GICD_IROUTER" + std::to_string(intid);
        auto found = values.find(name);
        if (found == values.end())
            return Error::invalid("gic: spore lacks " + name);
        uint64_t route = TRY(parse_hex_u64(found->second, name));
        uint64_t offset = distributor_irouter + uint64_t{intid} * 8;
        TRY(vm.gic_write_u32(GicGroup::Distributor, offset, static_cast<uint32_t>(route)));
        TRY(vm.gic_write_u32(GicGroup::Distributor, offset + 4, static_cast<uint32_t>(route >> 32)));
        values.erase(found);
    }
    TRY(restore_banks(vm, GicGroup::Distributor, distributor_banks, 0, values));
    return refuse_leftovers(values, "distributor");
}

Result<NamedValues> save_cpu_interface(kvm::Vm& vm, uint64_t affinity)
{
    NamedValues values;
    uint64_t control = 0;
    for (const auto& reg : cpu_interface_registers) {
        uint64_t attribute = affinity | instruction_encoding(reg.op0, reg.op1, reg.crn, reg.crm, reg.op2);
        uint64_t value = TRY(vm.gic_read_u64(GicGroup::CpuInterface, attribute));
        if (std::string_view(reg.name) == "ICC_CTLR_EL1")
            control = value;
        values[reg.name] = format_hex_u64(value);
    }
    for (const auto& reg : active_priority_registers(control)) {
        uint64_t attribute = affinity | instruction_encoding(reg.op0, reg.op1, reg.crn, reg.crm, reg.op2);
        values[reg.name] = format_hex_u64(TRY(vm.gic_read_u64(GicGroup::CpuInterface, attribute)));
    }
    return values;
}

Result<void> restore_cpu_interface(kvm::Vm& vm, uint64_t affinity, NamedValues values)
{
    auto write = [&](const CpuInterfaceRegister& reg) -> Result<uint64_t> {
        auto found = values.find(reg.name);
        if (found == values.end())
            return Error::invalid(std::string("gic: spore lacks ") + reg.name);
        uint64_t value = TRY(parse_hex_u64(found->second, reg.name));
        uint64_t attribute = affinity | instruction_encoding(reg.op0, reg.op1, reg.crn, reg.crm, reg.op2);
        TRY(vm.gic_write_u64(GicGroup::CpuInterface, attribute, value));
        values.erase(found);
        return value;
    };
    uint64_t control = 0;
    for (const auto& reg : cpu_interface_registers) {
        uint64_t value = TRY(write(reg));
        if (std::string_view(reg.name) == "ICC_CTLR_EL1")
            control = value;
    }
    for (const auto& reg : active_priority_registers(control))
        TRY(write(reg));
    return refuse_leftovers(values, "cpu interface");
}

constexpr uint64_t line_level_info = 0; // VGIC_LEVEL_INFO_LINE_LEVEL
constexpr unsigned line_level_info_shift = 10;

std::string line_level_name(unsigned intid) { return "LINE_LEVEL" + std::to_string(intid); }

} // namespace

Result<GicState> save_gic_state(kvm::Vm& vm, const std::vector<uint64_t>& mpidrs)
{
    GicState state;
    state.distributor = TRY(save_distributor(vm));
    for (uint64_t mpidr : mpidrs) {
        uint64_t affinity = affinity_attribute(mpidr);
        state.redistributors.push_back(
            TRY(save_banks(vm, GicGroup::Redistributor, redistributor_banks, affinity)));
        state.cpu_interfaces.push_back(TRY(save_cpu_interface(vm, affinity)));
    }
    for (unsigned intid = board::spi_base; intid < board::gic_interrupt_count; intid += 32) {
        uint64_t attribute = line_level_info << line_level_info_shift | intid;
        state.line_levels[line_level_name(intid)] = format_hex_u32(TRY(vm.gic_read_u32(GicGroup::LevelInfo, attribute)));
    }
    return state;
}

Result<void> restore_gic_state(kvm::Vm& vm, const std::vector<uint64_t>& mpidrs, const GicState& state)
{
    if (state.redistributors.size() != mpidrs.size() || state.cpu_interfaces.size() != mpidrs.size())
        return Error::invalid("gic: spore holds state for a different number of vCPUs");

    // Line levels before pending state: a level interrupt is pending while
    // its line is high, and the latch alone would not say so.
    NamedValues levels = state.line_levels;
    for (unsigned intid = board::spi_base; intid < board::gic_interrupt_count; intid += 32) {
        auto found = levels.find(line_level_name(intid));
        if (found == levels.end())
            return Error::invalid("gic: spore lacks " + line_level_name(intid));
        uint64_t attribute = line_level_info << line_level_info_shift | intid;
        TRY(vm.gic_write_u32(GicGroup::LevelInfo, attribute, TRY(parse_hex_u32(found->second, found->first))));
        levels.erase(found);
    }
    TRY(refuse_leftovers(levels, "line level"));

    TRY(restore_distributor(vm, state.distributor));
    for (size_t index = 0; index < mpidrs.size(); index++) {
        uint64_t affinity = affinity_attribute(mpidrs[index]);
        NamedValues redistributor = state.redistributors[index];
        TRY(restore_banks(vm, GicGroup::Redistributor, redistributor_banks, affinity, redistributor));
        TRY(refuse_leftovers(redistributor, "redistributor"));
        TRY(restore_cpu_interface(vm, affinity, state.cpu_interfaces[index]));
    }
    return {};
}

} // namespace spore
