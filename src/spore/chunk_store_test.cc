#include "spore/chunk_store.h"

#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

#include "spore/digest.h"
#include "spore/test_support.h"

namespace spore {
namespace {

using testing::TemporaryDirectory;

std::vector<uint8_t> pattern(size_t size, uint8_t seed)
{
    std::vector<uint8_t> bytes(size);
    for (size_t index = 0; index < size; index++)
        bytes[index] = static_cast<uint8_t>(index * 31 + seed);
    return bytes;
}

class ChunkStoreTest : public ::testing::Test {
protected:
    ChunkStore open_store(const std::string& name = "chunks")
    {
        auto store = ChunkStore::open(m_directory.file(name), true);
        EXPECT_TRUE(store) << store.error().message();
        return std::move(store).value();
    }

    std::string chunk_file(const std::string& digest, const std::string& name = "chunks")
    {
        return m_directory.file(name) + "/" + digest.substr(kDigestPrefix.size());
    }

    TemporaryDirectory m_directory;
};

TEST_F(ChunkStoreTest, PutNamesTheFileByItsHexDigestAndReadsBackVerified)
{
    ChunkStore store = open_store();
    auto bytes = pattern(4096, 1);
    auto digest = store.put(bytes);
    ASSERT_TRUE(digest) << digest.error().message();
    EXPECT_EQ(*digest, digest_of(bytes));
    EXPECT_EQ(testing::list_directory(store.path()),
        std::vector<std::string>{digest->substr(kDigestPrefix.size())});

    std::vector<uint8_t> out(bytes.size());
    ASSERT_TRUE(store.read_verified(*digest, out));
    EXPECT_EQ(out, bytes);
    EXPECT_TRUE(store.contains(*digest));
}

TEST_F(ChunkStoreTest, PutOfAnExistingChunkKeepsTheFile)
{
    ChunkStore store = open_store();
    auto bytes = pattern(4096, 2);
    auto digest = store.put(bytes).value();
    struct stat before, after;
    ASSERT_EQ(::stat(chunk_file(digest).c_str(), &before), 0);
    ASSERT_TRUE(store.put(bytes));
    ASSERT_EQ(::stat(chunk_file(digest).c_str(), &after), 0);
    EXPECT_EQ(before.st_ino, after.st_ino);
    EXPECT_EQ(testing::list_directory(store.path()).size(), 1u);
}

TEST_F(ChunkStoreTest, CorruptByteIsRefusedNamingBothDigests)
{
    ChunkStore store = open_store();
    auto bytes = pattern(4096, 3);
    auto digest = store.put(bytes).value();
    auto corrupt = bytes;
    corrupt[100] ^= 1;
    ::chmod(chunk_file(digest).c_str(), 0644);
    testing::write_text(chunk_file(digest), std::string(corrupt.begin(), corrupt.end()));

    std::vector<uint8_t> out(bytes.size());
    auto result = store.read_verified(digest, out);
    ASSERT_FALSE(result);
    EXPECT_EQ(result.error().message(),
        "chunk " + digest + " is corrupt: content hashes to " + digest_of(corrupt));
}

TEST_F(ChunkStoreTest, TruncatedChunkIsRefusedWithBothSizes)
{
    ChunkStore store = open_store();
    auto bytes = pattern(4096, 4);
    auto digest = store.put(bytes).value();
    ASSERT_EQ(::truncate(chunk_file(digest).c_str(), 1000), 0);

    std::vector<uint8_t> out(bytes.size());
    auto result = store.read_verified(digest, out);
    ASSERT_FALSE(result);
    EXPECT_EQ(result.error().message(), "chunk " + digest + " is truncated (1000 of 4096 bytes)");
    EXPECT_FALSE(store.check_stored(digest, 4096));
}

TEST_F(ChunkStoreTest, MissingChunkIsNotFound)
{
    ChunkStore store = open_store();
    std::string digest = digest_of(pattern(10, 5));
    std::vector<uint8_t> out(10);
    auto result = store.read_verified(digest, out);
    ASSERT_FALSE(result);
    EXPECT_EQ(result.error().code(), ErrorCode::NotFound);
    EXPECT_EQ(result.error().message(), "chunk " + digest + " is missing");
    EXPECT_FALSE(store.contains(digest));
}

TEST_F(ChunkStoreTest, MalformedDigestIsRefused)
{
    ChunkStore store = open_store();
    std::vector<uint8_t> out(10);
    EXPECT_FALSE(store.read_verified("sha256:../../etc/passwd", out));
    EXPECT_FALSE(store.contains("sha256:" + std::string(64, 'A')));
}

TEST_F(ChunkStoreTest, DamagedExistingFileIsReplacedByPut)
{
    ChunkStore store = open_store();
    auto bytes = pattern(4096, 6);
    auto digest = store.put(bytes).value();
    ASSERT_EQ(::truncate(chunk_file(digest).c_str(), 10), 0);
    ASSERT_TRUE(store.put(bytes));
    std::vector<uint8_t> out(bytes.size());
    EXPECT_TRUE(store.read_verified(digest, out));
}

TEST_F(ChunkStoreTest, OversizeChunkIsRefused)
{
    ChunkStore store = open_store();
    std::vector<uint8_t> huge(kMaxChunkFileSize + 1);
    EXPECT_FALSE(store.put(huge));
}

TEST_F(ChunkStoreTest, OpenWithoutCreateRefusesAMissingDirectory)
{
    auto store = ChunkStore::open(m_directory.file("absent"), false);
    ASSERT_FALSE(store);
    EXPECT_EQ(store.error().code(), ErrorCode::NotFound);
}

TEST_F(ChunkStoreTest, LinkFromSharesTheFileWithAnotherStore)
{
    ChunkStore first = open_store("first");
    ChunkStore second = open_store("second");
    auto digest = first.put(pattern(4096, 7)).value();
    ASSERT_TRUE(second.link_from(first, digest));
    struct stat original, linked;
    ASSERT_EQ(::stat(chunk_file(digest, "first").c_str(), &original), 0);
    ASSERT_EQ(::stat(chunk_file(digest, "second").c_str(), &linked), 0);
    EXPECT_EQ(original.st_ino, linked.st_ino);
    EXPECT_TRUE(second.link_from(first, digest)); // already present
}

TEST_F(ChunkStoreTest, LinkFromRefusesAChunkTheSourceLacks)
{
    ChunkStore first = open_store("first");
    ChunkStore second = open_store("second");
    auto result = second.link_from(first, digest_of(pattern(10, 8)));
    ASSERT_FALSE(result);
    EXPECT_EQ(result.error().code(), ErrorCode::NotFound);
}

} // namespace
} // namespace spore
