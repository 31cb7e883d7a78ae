#include "spore/memory_image.h"

#include <gtest/gtest.h>

#include "spore/digest.h"
#include "spore/test_support.h"

namespace spore {
namespace {

using testing::kTestChunkSize;
using testing::list_directory;
using testing::TemporaryDirectory;

// RAM of `chunks` chunks, chunk n filled with byte n + 1 (none is zero).
std::vector<uint8_t> distinct_ram(size_t chunks)
{
    std::vector<uint8_t> ram(chunks * kTestChunkSize);
    for (size_t chunk = 0; chunk < chunks; chunk++)
        std::fill_n(ram.begin() + chunk * kTestChunkSize, kTestChunkSize, chunk + 1);
    return ram;
}

class MemoryImageTest : public ::testing::Test {
protected:
    ChunkStore open_store(const std::string& name)
    {
        return ChunkStore::open(m_directory.file(name), true).value();
    }

    size_t stored_files(const ChunkStore& store) { return list_directory(store.path()).size(); }

    TemporaryDirectory m_directory;
    ChunkStore m_store = open_store("chunks");
};

TEST_F(MemoryImageTest, AllZeroRamStoresNothing)
{
    std::vector<uint8_t> ram(8 * kTestChunkSize);
    auto index = capture_memory(
        ram, kTestChunkSize, std::vector<bool>(8, true), nullptr, m_store, nullptr);
    ASSERT_TRUE(index) << index.error().message();
    EXPECT_EQ(index->chunk_size, kTestChunkSize);
    ASSERT_EQ(index->chunks.size(), 8u);
    for (const MemoryChunk& chunk : index->chunks)
        EXPECT_FALSE(chunk.digest);
    EXPECT_EQ(stored_files(m_store), 0u);
}

TEST_F(MemoryImageTest, OnlyDirtyChunksAreReadAndStored)
{
    auto ram = distinct_ram(4);
    std::vector<bool> dirty{false, true, false, true};
    auto index = capture_memory(ram, kTestChunkSize, dirty, nullptr, m_store, nullptr).value();
    // Clean chunks without a previous capture were never written: zero, by contract.
    EXPECT_FALSE(index.chunks[0].digest);
    EXPECT_FALSE(index.chunks[2].digest);
    EXPECT_EQ(
        index.chunks[1].digest, digest_of(std::span(ram).subspan(kTestChunkSize, kTestChunkSize)));
    EXPECT_TRUE(index.chunks[3].digest);
    EXPECT_EQ(stored_files(m_store), 2u);
}

TEST_F(MemoryImageTest, IdenticalChunksAreStoredOnce)
{
    std::vector<uint8_t> ram(6 * kTestChunkSize, 0x5a);
    auto index
        = capture_memory(ram, kTestChunkSize, std::vector<bool>(6, true), nullptr, m_store, nullptr)
              .value();
    for (const MemoryChunk& chunk : index.chunks)
        EXPECT_EQ(chunk.digest, index.chunks[0].digest);
    EXPECT_EQ(stored_files(m_store), 1u);
}

TEST_F(MemoryImageTest, ManyDirtyChunksAreHashedCorrectlyOnTwoThreads)
{
    auto ram = distinct_ram(32);
    auto index = capture_memory(
        ram, kTestChunkSize, std::vector<bool>(32, true), nullptr, m_store, nullptr)
                     .value();
    for (size_t chunk = 0; chunk < 32; chunk++) {
        auto bytes = std::span(ram).subspan(chunk * kTestChunkSize, kTestChunkSize);
        EXPECT_EQ(index.chunks[chunk].digest, digest_of(bytes)) << chunk;
    }
    EXPECT_EQ(stored_files(m_store), 32u);
}

TEST_F(MemoryImageTest, CleanChunksReusePreviousDigestsAndAreLinkedIntoTheNewStore)
{
    auto ram = distinct_ram(4);
    auto first
        = capture_memory(ram, kTestChunkSize, std::vector<bool>(4, true), nullptr, m_store, nullptr)
              .value();

    ram[2 * kTestChunkSize] = 0xff;
    ChunkStore next = open_store("next");
    std::vector<bool> dirty{false, false, true, false};
    auto second = capture_memory(ram, kTestChunkSize, dirty, &first, next, &m_store).value();
    EXPECT_EQ(second.chunks[0], first.chunks[0]);
    EXPECT_EQ(second.chunks[1], first.chunks[1]);
    EXPECT_EQ(second.chunks[3], first.chunks[3]);
    EXPECT_NE(second.chunks[2], first.chunks[2]);
    for (const MemoryChunk& chunk : second.chunks)
        EXPECT_TRUE(next.contains(*chunk.digest));
    EXPECT_EQ(stored_files(next), 4u);
}

TEST_F(MemoryImageTest, PreviousChunksMustBeInTheStoreWhenNoPreviousStoreIsGiven)
{
    auto ram = distinct_ram(4);
    auto first
        = capture_memory(ram, kTestChunkSize, std::vector<bool>(4, true), nullptr, m_store, nullptr)
              .value();
    ChunkStore empty = open_store("empty");
    auto second
        = capture_memory(ram, kTestChunkSize, std::vector<bool>(4, false), &first, empty, nullptr);
    ASSERT_FALSE(second);
    EXPECT_NE(second.error().message().find("memory chunk 0 at ram offset 0x0"), std::string::npos);
    EXPECT_TRUE(
        capture_memory(ram, kTestChunkSize, std::vector<bool>(4, false), &first, m_store, nullptr));
}

TEST_F(MemoryImageTest, MismatchedLayoutsAreRefused)
{
    auto ram = distinct_ram(4);
    EXPECT_FALSE(
        capture_memory(ram, kTestChunkSize, std::vector<bool>(3, true), nullptr, m_store, nullptr));
    EXPECT_FALSE(capture_memory(ram, 3000, std::vector<bool>(4, true), nullptr, m_store, nullptr));
    MemoryIndex other{kTestChunkSize * 2, std::vector<MemoryChunk>(2)};
    EXPECT_FALSE(
        capture_memory(ram, kTestChunkSize, std::vector<bool>(4, true), &other, m_store, nullptr));
}

TEST_F(MemoryImageTest, RestoreRebuildsTheCapturedRam)
{
    auto ram = distinct_ram(8);
    std::fill_n(ram.begin() + 3 * kTestChunkSize, kTestChunkSize, 0);
    auto index
        = capture_memory(ram, kTestChunkSize, std::vector<bool>(8, true), nullptr, m_store, nullptr)
              .value();
    EXPECT_FALSE(index.chunks[3].digest);

    std::vector<uint8_t> restored(ram.size());
    ASSERT_TRUE(restore_memory(index, m_store, restored));
    EXPECT_EQ(restored, ram);
}

TEST_F(MemoryImageTest, RestoreRefusesACorruptChunk)
{
    auto ram = distinct_ram(2);
    auto index
        = capture_memory(ram, kTestChunkSize, {true, true}, nullptr, m_store, nullptr).value();
    std::string path = m_store.path() + "/" + index.chunks[1].digest->substr(kDigestPrefix.size());
    testing::write_text(path, std::string(kTestChunkSize, '\x01'));

    std::vector<uint8_t> restored(ram.size());
    auto result = restore_memory(index, m_store, restored);
    ASSERT_FALSE(result);
    EXPECT_NE(result.error().message().find("memory chunk 1 at ram offset 0x10000: chunk sha256:"),
        std::string::npos);
    EXPECT_NE(result.error().message().find("is corrupt"), std::string::npos);
}

TEST_F(MemoryImageTest, RestoreRefusesAMissingChunkAndAWrongRamSize)
{
    auto ram = distinct_ram(2);
    auto index
        = capture_memory(ram, kTestChunkSize, {true, true}, nullptr, m_store, nullptr).value();
    std::vector<uint8_t> short_ram(kTestChunkSize);
    EXPECT_FALSE(restore_memory(index, m_store, short_ram));

    ChunkStore empty = open_store("empty");
    std::vector<uint8_t> restored(ram.size());
    auto result = restore_memory(index, empty, restored);
    ASSERT_FALSE(result);
    EXPECT_EQ(result.error().code(), ErrorCode::NotFound);
}

TEST(IsAllZero, FindsANonZeroByteAnywhere)
{
    for (size_t size : {0, 1, 15, 16, 17, 4096}) {
        std::vector<uint8_t> bytes(size);
        EXPECT_TRUE(is_all_zero(bytes)) << size;
        for (size_t position : {size_t{0}, size / 2, size - 1}) {
            if (size == 0)
                continue;
            bytes.assign(size, 0);
            bytes[position] = 1;
            EXPECT_FALSE(is_all_zero(bytes)) << size << " at " << position;
        }
    }
}

} // namespace
} // namespace spore
