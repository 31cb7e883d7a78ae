#include "cli/size.h"

#include <gtest/gtest.h>

namespace spore {
namespace {

TEST(MemorySize, BareNumberIsMebibytes) { EXPECT_EQ(parse_memory_size("512").value(), 512ULL << 20); }

TEST(MemorySize, SuffixesAreBinary)
{
    EXPECT_EQ(parse_memory_size("256M").value(), 256ULL << 20);
    EXPECT_EQ(parse_memory_size("2G").value(), 2ULL << 30);
    EXPECT_EQ(parse_memory_size("2GiB").value(), 2ULL << 30);
    EXPECT_EQ(parse_memory_size("65536K").value(), 64ULL << 20);
}

TEST(MemorySize, GarbageIsRefused)
{
    EXPECT_FALSE(parse_memory_size("").has_value());
    EXPECT_FALSE(parse_memory_size("lots").has_value());
    EXPECT_FALSE(parse_memory_size("12T").has_value());
    EXPECT_FALSE(parse_memory_size("-5M").has_value());
}

TEST(MemorySize, OverflowIsRefused) { EXPECT_FALSE(parse_memory_size("99999999999999999G").has_value()); }

} // namespace
} // namespace spore
