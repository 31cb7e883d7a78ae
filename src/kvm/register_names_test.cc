#include "kvm/register_names.h"

#include <gtest/gtest.h>

namespace spore::kvm {
namespace {

using namespace register_id;

uint64_t core(uint64_t word, uint64_t size) { return arch_arm64 | size | coprocessor_core | word; }

TEST(RegisterNames, CoreRegistersHaveArchitecturalNames)
{
    EXPECT_EQ(register_name(core(0, size_u64)), "x0");
    EXPECT_EQ(register_name(core(60, size_u64)), "x30");
    EXPECT_EQ(register_name(core(62, size_u64)), "sp");
    EXPECT_EQ(register_name(core(64, size_u64)), "pc");
    EXPECT_EQ(register_name(core(66, size_u64)), "pstate");
    EXPECT_EQ(register_name(core(72, size_u64)), "spsr_el1");
    EXPECT_EQ(register_name(core(84, size_u128)), "v0");
    EXPECT_EQ(register_name(core(208, size_u128)), "v31");
    EXPECT_EQ(register_name(core(212, size_u32)), "fpsr");
    EXPECT_EQ(register_name(core(213, size_u32)), "fpcr");
}

TEST(RegisterNames, CoreRegisterWithWrongSizeHasNoName)
{
    EXPECT_FALSE(register_name(core(0, size_u32)).has_value());
    EXPECT_FALSE(register_name(core(84, size_u64)).has_value());
    EXPECT_FALSE(register_name(core(1, size_u64)).has_value());
}

TEST(RegisterNames, TimerRegistersAreNamedDespiteTheSwappedEncoding)
{
    EXPECT_EQ(register_name(timer_counter), "CNTVCT_EL0");
    EXPECT_EQ(register_name(timer_compare), "CNTV_CVAL_EL0");
    EXPECT_EQ(register_id_from_name("CNTVCT_EL0"), timer_counter);
}

TEST(RegisterNames, UnnamedSystemRegisterGetsGenericName)
{
    uint64_t id = system(2, 0, 0, 3, 4); // DBGBVR3_EL1
    EXPECT_EQ(register_name(id), "S2_0_C0_C3_4");
    EXPECT_EQ(register_id_from_name("S2_0_C0_C3_4"), id);
}

TEST(RegisterNames, TableRegisterMustUseItsTableName)
{
    EXPECT_EQ(register_name(system(3, 0, 1, 0, 0)), "SCTLR_EL1");
    EXPECT_FALSE(register_id_from_name("S3_0_C1_C0_0").has_value());
}

TEST(RegisterNames, EveryNameRoundTrips)
{
    std::vector<uint64_t> ids;
    for (uint64_t word = 0; word < 214; word++) {
        for (uint64_t size : {size_u32, size_u64, size_u128})
            ids.push_back(core(word, size));
    }
    for (unsigned encoding = 0; encoding < 0x10000; encoding += 7)
        ids.push_back(arch_arm64 | size_u64 | coprocessor_system | encoding);
    for (uint64_t index = 0; index < 8; index++) {
        ids.push_back(arch_arm64 | size_u64 | coprocessor_firmware | index);
        ids.push_back(arch_arm64 | size_u64 | coprocessor_firmware_bitmap | index);
        ids.push_back(arch_arm64 | size_u32 | coprocessor_demux | index);
    }
    unsigned named = 0;
    for (uint64_t id : ids) {
        auto name = register_name(id);
        if (!name)
            continue;
        named++;
        EXPECT_EQ(register_id_from_name(*name), id) << *name;
    }
    EXPECT_GT(named, 9000u);
}

TEST(RegisterNames, UnknownClassesAndMalformedNamesAreRefused)
{
    EXPECT_FALSE(register_name(arch_arm64 | size_u64 | (0x15ULL << coprocessor_shift)).has_value()); // SVE
    EXPECT_FALSE(register_name(0x4000'0000'0000'0000ULL).has_value());
    for (const char* name : {"", "x31", "x01", "v32", "X0", "S4_0_C0_C0_0", "S3_0_C16_C0_0", "S3_0_C1_C0_0x",
                             "S03_0_C0_C0_0", "CCSIDR_256", "FW_PSCI", "sctlr_el1", "x"})
        EXPECT_FALSE(register_id_from_name(name).has_value()) << name;
}

TEST(RegisterNames, SizesFollowTheId)
{
    EXPECT_EQ(register_size(core(0, size_u64)), 8u);
    EXPECT_EQ(register_size(core(84, size_u128)), 16u);
    EXPECT_EQ(register_size(core(212, size_u32)), 4u);
}

} // namespace
} // namespace spore::kvm
