#include "memory/guest_memory.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <unistd.h>
#include <vector>

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

namespace spore {
namespace {

TEST(GuestMemoryTracking, WritesMarkTheirGranulesAndTakingClears)
{
    auto memory = GuestMemory::create(kBase, kSize).value();
    memory.track_writes(4096);
    std::array<uint8_t, 2> bytes{1, 2};
    ASSERT_TRUE(memory.write(kBase + 4095, bytes).has_value()); // straddles granules 0 and 1
    ASSERT_TRUE(memory.fill(kBase + 5 * 4096, 0, 10).has_value());
    std::array<uint8_t, 4> out{};
    ASSERT_TRUE(memory.read(kBase + 9 * 4096, out).has_value()); // reads do not count

    auto written = memory.take_written_granules();
    ASSERT_EQ(written.size(), kSize / 4096);
    for (size_t granule = 0; granule < written.size(); granule++)
        EXPECT_EQ(written[granule], granule == 0 || granule == 1 || granule == 5) << granule;

    written = memory.take_written_granules();
    EXPECT_EQ(std::count(written.begin(), written.end(), true), 0);
}

TEST(GuestMemoryTracking, FailedWritesMarkNothing)
{
    auto memory = GuestMemory::create(kBase, kSize).value();
    memory.track_writes(4096);
    std::array<uint8_t, 2> bytes{1, 2};
    EXPECT_FALSE(memory.write(kBase + (kSize - 1), bytes).has_value());
    auto written = memory.take_written_granules();
    EXPECT_EQ(std::count(written.begin(), written.end(), true), 0);
}

TEST(GuestMemoryFile, PrivateMappingReadsTheFileAndNeverWritesIt)
{
    char path[] = "/tmp/spore-memory-test-XXXXXX";
    int fd = mkstemp(path);
    ASSERT_GE(fd, 0);
    std::vector<uint8_t> content(kSize, 0x5a);
    ASSERT_EQ(::write(fd, content.data(), content.size()), static_cast<ssize_t>(kSize));
    {
        auto memory = GuestMemory::create_from_file(kBase, kSize, fd).value();
        std::array<uint8_t, 1> byte{};
        ASSERT_TRUE(memory.read(kBase + 100, byte).has_value());
        EXPECT_EQ(byte[0], 0x5a);
        std::array<uint8_t, 1> changed{0x11};
        ASSERT_TRUE(memory.write(kBase + 100, changed).has_value());
    }
    uint8_t on_disk = 0;
    ASSERT_EQ(pread(fd, &on_disk, 1, 100), 1);
    EXPECT_EQ(on_disk, 0x5a);
    close(fd);
    unlink(path);
}

} // namespace
} // namespace spore
