#include "memory/guest_memory.h"

#include <gtest/gtest.h>

#include <array>

namespace spore {
namespace {

constexpr GuestAddress kBase{0x8000'0000};
constexpr uint64_t kSize = 64 * 1024;

GuestMemory make_memory()
{
    auto memory = GuestMemory::create(kBase, kSize);
    EXPECT_TRUE(memory.has_value());
    return std::move(memory).value();
}

TEST(GuestMemory, RefusesSizeThatIsNotPageMultiple)
{
    EXPECT_FALSE(GuestMemory::create(kBase, 4097).has_value());
    EXPECT_FALSE(GuestMemory::create(kBase, 0).has_value());
}

TEST(GuestMemory, WriteThenReadRoundTrips)
{
    auto memory = make_memory();
    std::array<uint8_t, 4> in{1, 2, 3, 4};
    std::array<uint8_t, 4> out{};
    ASSERT_TRUE(memory.write(kBase + 100, in).has_value());
    ASSERT_TRUE(memory.read(kBase + 100, out).has_value());
    EXPECT_EQ(in, out);
}

TEST(GuestMemory, LastByteIsReachableAndOneBeyondIsNot)
{
    auto memory = make_memory();
    std::array<uint8_t, 1> byte{};
    EXPECT_TRUE(memory.read(kBase + (kSize - 1), byte).has_value());
    EXPECT_FALSE(memory.read(kBase + kSize, byte).has_value());
    std::array<uint8_t, 2> two{};
    EXPECT_FALSE(memory.read(kBase + (kSize - 1), two).has_value());
}

TEST(GuestMemory, AddressBelowBaseIsRefused)
{
    auto memory = make_memory();
    std::array<uint8_t, 1> byte{};
    EXPECT_FALSE(memory.read(GuestAddress(kBase.value - 1), byte).has_value());
}

TEST(GuestMemory, RangeThatWrapsIsRefused)
{
    auto memory = make_memory();
    EXPECT_FALSE(memory.contains(kBase + 8, UINT64_MAX - 4));
    EXPECT_FALSE(memory.slice(kBase + 8, UINT64_MAX).has_value());
}

TEST(GuestMemory, SliceCoversExactlyTheRange)
{
    auto memory = make_memory();
    auto whole = memory.slice(kBase, kSize);
    ASSERT_TRUE(whole.has_value());
    EXPECT_EQ(whole->size(), kSize);
    EXPECT_FALSE(memory.slice(kBase, kSize + 1).has_value());
}

TEST(GuestMemory, U16AccessorsRefuseMisalignment)
{
    auto memory = make_memory();
    ASSERT_TRUE(memory.store_u16_release(kBase + 2, 0xbeef).has_value());
    EXPECT_EQ(memory.load_u16_acquire(kBase + 2).value(), 0xbeef);
    EXPECT_FALSE(memory.load_u16_acquire(kBase + 3).has_value());
    EXPECT_FALSE(memory.store_u16_release(kBase + (kSize - 1), 1).has_value());
}

} // namespace
} // namespace spore
