#include "kvm/register_names.h"

#include <array>
#include <charconv>
#include <cstdio>

namespace spore::kvm {

namespace {

using namespace register_id;

struct NamedSystemRegister {
    const char* name;
    uint64_t id;
};

// EL0/EL1 system registers Linux guests use, and the identification
// registers the platform contract compares.
constexpr NamedSystemRegister system_registers[] = {
    {"MIDR_EL1", system(3, 0, 0, 0, 0)},        {"MPIDR_EL1", system(3, 0, 0, 0, 5)},
    {"REVIDR_EL1", system(3, 0, 0, 0, 6)},      {"ID_AA64PFR0_EL1", system(3, 0, 0, 4, 0)},
    {"ID_AA64PFR1_EL1", system(3, 0, 0, 4, 1)}, {"ID_AA64ZFR0_EL1", system(3, 0, 0, 4, 4)},
    {"ID_AA64SMFR0_EL1", system(3, 0, 0, 4, 5)}, {"ID_AA64DFR0_EL1", system(3, 0, 0, 5, 0)},
    {"ID_AA64DFR1_EL1", system(3, 0, 0, 5, 1)}, {"ID_AA64AFR0_EL1", system(3, 0, 0, 5, 4)},
    {"ID_AA64AFR1_EL1", system(3, 0, 0, 5, 5)}, {"ID_AA64ISAR0_EL1", system(3, 0, 0, 6, 0)},
    {"ID_AA64ISAR1_EL1", system(3, 0, 0, 6, 1)}, {"ID_AA64ISAR2_EL1", system(3, 0, 0, 6, 2)},
    {"ID_AA64MMFR0_EL1", system(3, 0, 0, 7, 0)}, {"ID_AA64MMFR1_EL1", system(3, 0, 0, 7, 1)},
    {"ID_AA64MMFR2_EL1", system(3, 0, 0, 7, 2)}, {"SCTLR_EL1", system(3, 0, 1, 0, 0)},
    {"ACTLR_EL1", system(3, 0, 1, 0, 1)},       {"CPACR_EL1", system(3, 0, 1, 0, 2)},
    {"TTBR0_EL1", system(3, 0, 2, 0, 0)},       {"TTBR1_EL1", system(3, 0, 2, 0, 1)},
    {"TCR_EL1", system(3, 0, 2, 0, 2)},         {"AFSR0_EL1", system(3, 0, 5, 1, 0)},
    {"AFSR1_EL1", system(3, 0, 5, 1, 1)},       {"ESR_EL1", system(3, 0, 5, 2, 0)},
    {"FAR_EL1", system(3, 0, 6, 0, 0)},         {"PAR_EL1", system(3, 0, 7, 4, 0)},
    {"MAIR_EL1", system(3, 0, 10, 2, 0)},       {"AMAIR_EL1", system(3, 0, 10, 3, 0)},
    {"VBAR_EL1", system(3, 0, 12, 0, 0)},       {"CONTEXTIDR_EL1", system(3, 0, 13, 0, 1)},
    {"TPIDR_EL1", system(3, 0, 13, 0, 4)},      {"CNTKCTL_EL1", system(3, 0, 14, 1, 0)},
    {"CSSELR_EL1", system(3, 2, 0, 0, 0)},      {"TPIDR_EL0", system(3, 3, 13, 0, 2)},
    {"TPIDRRO_EL0", system(3, 3, 13, 0, 3)},    {"MDSCR_EL1", system(2, 0, 0, 2, 2)},
    {"MDCCINT_EL1", system(2, 0, 0, 2, 0)},     {"DISR_EL1", system(3, 0, 12, 1, 1)},
    {"CNTV_CTL_EL0", timer_control},            {"CNTVCT_EL0", timer_counter},
    {"CNTV_CVAL_EL0", timer_compare},
};

// Core registers are addressed by their offset in struct kvm_regs, in
// 32-bit words: 31 general registers, sp, pc and pstate, then sp_el1,
// elr_el1 and five spsr, then 32 128-bit vector registers, fpsr and fpcr.
constexpr uint64_t core_general_first = 0;
constexpr uint64_t core_sp = 62;
constexpr uint64_t core_pc = 64;
constexpr uint64_t core_pstate = 66;
constexpr uint64_t core_sp_el1 = 68;
constexpr uint64_t core_elr_el1 = 70;
constexpr uint64_t core_spsr_first = 72;
constexpr uint64_t core_vector_first = 84;
constexpr uint64_t core_fpsr = 212;
constexpr uint64_t core_fpcr = 213;

constexpr std::array<const char*, 5> spsr_names = {"spsr_el1", "spsr_abt", "spsr_und", "spsr_irq", "spsr_fiq"};

uint64_t core(uint64_t word_offset, uint64_t size) { return arch_arm64 | size | coprocessor_core | word_offset; }

std::string numbered(const char* prefix, uint64_t number) { return prefix + std::to_string(number); }

std::optional<std::string> core_name(uint64_t id)
{
    uint64_t offset = id & 0xffff;
    uint64_t size = id & size_mask;
    if (size == size_u64 && offset < core_sp && offset % 2 == 0)
        return numbered("x", offset / 2);
    if (size == size_u128 && offset >= core_vector_first && offset < core_fpsr &&
        (offset - core_vector_first) % 4 == 0)
        return numbered("v", (offset - core_vector_first) / 4);
    if (size == size_u32 && offset == core_fpsr)
        return "fpsr";
    if (size == size_u32 && offset == core_fpcr)
        return "fpcr";
    if (size != size_u64)
        return std::nullopt;
    switch (offset) {
    case core_sp: return "sp";
    case core_pc: return "pc";
    case core_pstate: return "pstate";
    case core_sp_el1: return "sp_el1";
    case core_elr_el1: return "elr_el1";
    default: break;
    }
    if (offset >= core_spsr_first && offset < core_spsr_first + 2 * spsr_names.size() && offset % 2 == 0)
        return spsr_names[(offset - core_spsr_first) / 2];
    return std::nullopt;
}

std::string system_generic_name(uint64_t id)
{
    char name[32];
    std::snprintf(name, sizeof name, "S%u_%u_C%u_C%u_%u", unsigned(id >> 14 & 3), unsigned(id >> 11 & 7),
                  unsigned(id >> 7 & 15), unsigned(id >> 3 & 15), unsigned(id & 7));
    return name;
}

std::optional<std::string> system_name(uint64_t id)
{
    if ((id & size_mask) != size_u64 || (id & 0xffff'0000) != coprocessor_system)
        return std::nullopt;
    for (const auto& entry : system_registers) {
        if (entry.id == id)
            return entry.name;
    }
    return system_generic_name(id);
}

// Parses the decimal number that follows prefix in name, bounded by limit.
std::optional<uint64_t> number_after(std::string_view name, std::string_view prefix, uint64_t limit)
{
    if (!name.starts_with(prefix) || name.size() == prefix.size() || name.size() > prefix.size() + 5)
        return std::nullopt;
    auto digits = name.substr(prefix.size());
    if (digits.size() > 1 && digits[0] == '0')
        return std::nullopt; // one spelling per register
    uint64_t value = 0;
    auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
    if (error != std::errc() || end != digits.data() + digits.size() || value >= limit)
        return std::nullopt;
    return value;
}

std::optional<uint64_t> parse_system_generic(std::string_view name)
{
    unsigned fields[5];
    const unsigned limits[5] = {4, 8, 16, 16, 8};
    const char* separators[5] = {"S", "_", "_C", "_C", "_"};
    for (unsigned index = 0; index < 5; index++) {
        std::string_view separator = separators[index];
        if (!name.starts_with(separator))
            return std::nullopt;
        name.remove_prefix(separator.size());
        auto [end, error] = std::from_chars(name.data(), name.data() + name.size(), fields[index]);
        if (error != std::errc() || fields[index] >= limits[index])
            return std::nullopt;
        size_t length = static_cast<size_t>(end - name.data());
        if (length > 1 && name[0] == '0')
            return std::nullopt;
        name.remove_prefix(length);
    }
    if (!name.empty())
        return std::nullopt;
    uint64_t id = system(fields[0], fields[1], fields[2], fields[3], fields[4]);
    // A register with a table name must be spelled by that name.
    if (system_generic_name(id) != system_name(id))
        return std::nullopt;
    return id;
}

const char* const firmware_names[] = {"FW_PSCI_VERSION", "FW_SMCCC_ARCH_WORKAROUND_1",
                                      "FW_SMCCC_ARCH_WORKAROUND_2", "FW_SMCCC_ARCH_WORKAROUND_3"};
const char* const firmware_bitmap_names[] = {"FW_BITMAP_STD", "FW_BITMAP_STD_HYP", "FW_BITMAP_VENDOR_HYP"};

} // namespace

unsigned register_size(uint64_t id)
{
    switch (id & size_mask) {
    case size_u32: return 4;
    case size_u64: return 8;
    case size_u128: return 16;
    default: return 0;
    }
}

std::optional<std::string> register_name(uint64_t id)
{
    if ((id & 0xff00'0000'0000'0000ULL) != arch_arm64)
        return std::nullopt;
    uint64_t coprocessor = id & 0xffff'0000ULL;
    uint64_t index = id & 0xffff;
    if (coprocessor == coprocessor_core)
        return core_name(id);
    if (coprocessor == coprocessor_system)
        return system_name(id);
    if (coprocessor == coprocessor_firmware && (id & size_mask) == size_u64 && index < std::size(firmware_names))
        return firmware_names[index];
    if (coprocessor == coprocessor_firmware_bitmap && (id & size_mask) == size_u64 &&
        index < std::size(firmware_bitmap_names))
        return firmware_bitmap_names[index];
    // Cache size selectors: KVM_REG_ARM_DEMUX_ID_CCSIDR with the CSSELR value.
    if (coprocessor == coprocessor_demux && (id & size_mask) == size_u32 && (index & 0xff00) == 0)
        return numbered("CCSIDR_", index);
    return std::nullopt;
}

std::optional<uint64_t> register_id_from_name(std::string_view name)
{
    if (auto number = number_after(name, "x", 31))
        return core(core_general_first + *number * 2, size_u64);
    if (auto number = number_after(name, "v", 32))
        return core(core_vector_first + *number * 4, size_u128);
    if (auto number = number_after(name, "CCSIDR_", 256))
        return arch_arm64 | size_u32 | coprocessor_demux | *number;
    if (name == "fpsr")
        return core(core_fpsr, size_u32);
    if (name == "fpcr")
        return core(core_fpcr, size_u32);

    const std::pair<const char*, uint64_t> core_registers[] = {
        {"sp", core_sp}, {"pc", core_pc}, {"pstate", core_pstate}, {"sp_el1", core_sp_el1}, {"elr_el1", core_elr_el1}};
    for (auto [core_register, offset] : core_registers) {
        if (name == core_register)
            return core(offset, size_u64);
    }
    for (size_t index = 0; index < spsr_names.size(); index++) {
        if (name == spsr_names[index])
            return core(core_spsr_first + index * 2, size_u64);
    }
    for (size_t index = 0; index < std::size(firmware_names); index++) {
        if (name == firmware_names[index])
            return arch_arm64 | size_u64 | coprocessor_firmware | index;
    }
    for (size_t index = 0; index < std::size(firmware_bitmap_names); index++) {
        if (name == firmware_bitmap_names[index])
            return arch_arm64 | size_u64 | coprocessor_firmware_bitmap | index;
    }
    for (const auto& entry : system_registers) {
        if (name == entry.name)
            return entry.id;
    }
    return parse_system_generic(name);
}

} // namespace spore::kvm
