#include "spore/backing_file.h"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "spore/manifest_json.h"
#include "spore/memory_image.h"
#include "spore/test_support.h"

namespace spore {
namespace {

using testing::kTestChunkSize;
using testing::TemporaryDirectory;

class BackingFileTest : public ::testing::Test {
protected:
    void SetUp() override
    {
        // Chunk 1 stays zero, so the image has a hole.
        m_ram.assign(4 * kTestChunkSize, 0);
        for (size_t chunk : {0, 2, 3})
            std::fill_n(m_ram.begin() + chunk * kTestChunkSize, kTestChunkSize, chunk + 0x10);
        std::vector<bool> dirty(4, true);
        m_index = capture_memory(m_ram, kTestChunkSize, dirty, nullptr, m_store, nullptr).value();
    }

    BackingFileCache open_cache(const std::string& key = "key/host.key")
    {
        auto cache = BackingFileCache::open(m_directory.file("cache/ram"), m_directory.file(key));
        EXPECT_TRUE(cache) << cache.error().message();
        return std::move(cache).value();
    }

    // find()'s reason for refusing, or "" if it returned an image.
    std::string refusal(const BackingFileCache& cache)
    {
        std::string reason;
        auto found = cache.find(m_index, &reason);
        EXPECT_TRUE(found);
        return found->has_value() ? "" : reason;
    }

    std::vector<uint8_t> read_image(int fd)
    {
        std::vector<uint8_t> bytes(m_ram.size());
        EXPECT_EQ(::pread(fd, bytes.data(), bytes.size(), 0), static_cast<ssize_t>(bytes.size()));
        return bytes;
    }

    TemporaryDirectory m_directory;
    ChunkStore m_store = ChunkStore::open(m_directory.file("chunks"), true).value();
    std::vector<uint8_t> m_ram;
    MemoryIndex m_index;
};

TEST_F(BackingFileTest, PublishedImageIsFoundReadOnlyWithTheRamContents)
{
    BackingFileCache cache = open_cache();
    ASSERT_TRUE(cache.publish(m_index, m_ram));
    std::string reason;
    auto found = cache.find(m_index, &reason).value();
    ASSERT_TRUE(found.has_value()) << reason;
    EXPECT_EQ(read_image(found->get()), m_ram);
    EXPECT_EQ(::fcntl(found->get(), F_GETFL) & O_ACCMODE, O_RDONLY);

    struct stat status;
    ASSERT_EQ(::stat(cache.image_path(m_index).c_str(), &status), 0);
    EXPECT_EQ(status.st_mode & 0777, 0444u);
    EXPECT_TRUE(cache.image_path(m_index).ends_with(memory_digest(m_index).substr(7) + ".raw"));
}

TEST_F(BackingFileTest, ImageBuiltFromChunksMatchesTheRam)
{
    BackingFileCache cache = open_cache();
    ASSERT_TRUE(cache.publish_from_chunks(m_index, m_store));
    auto found = cache.find(m_index, nullptr).value();
    ASSERT_TRUE(found.has_value());
    EXPECT_EQ(read_image(found->get()), m_ram);
}

TEST_F(BackingFileTest, MissingImageIsReported)
{
    EXPECT_EQ(refusal(open_cache()), "no backing file");
}

TEST_F(BackingFileTest, PublishingAgainKeepsAValidImage)
{
    BackingFileCache cache = open_cache();
    ASSERT_TRUE(cache.publish(m_index, m_ram));
    struct stat before, after;
    ASSERT_EQ(::stat(cache.image_path(m_index).c_str(), &before), 0);
    ASSERT_TRUE(cache.publish(m_index, m_ram));
    ASSERT_EQ(::stat(cache.image_path(m_index).c_str(), &after), 0);
    EXPECT_EQ(before.st_ino, after.st_ino);
}

TEST_F(BackingFileTest, EditWithRestoredMtimeIsDetectedThroughCtime)
{
    BackingFileCache cache = open_cache();
    ASSERT_TRUE(cache.publish(m_index, m_ram));
    std::string path = cache.image_path(m_index);
    struct stat before;
    ASSERT_EQ(::stat(path.c_str(), &before), 0);

    ASSERT_EQ(::chmod(path.c_str(), 0644), 0);
    int fd = ::open(path.c_str(), O_WRONLY);
    ASSERT_GE(fd, 0);
    uint8_t byte = 0x99;
    ASSERT_EQ(::pwrite(fd, &byte, 1, 5), 1);
    ::close(fd);
    ASSERT_EQ(::chmod(path.c_str(), 0444), 0);
    timespec times[2] = {before.st_atim, before.st_mtim};
    ASSERT_EQ(::utimensat(AT_FDCWD, path.c_str(), times, 0), 0);

    struct stat after;
    ASSERT_EQ(::stat(path.c_str(), &after), 0);
    EXPECT_EQ(after.st_ino, before.st_ino);
    EXPECT_EQ(after.st_size, before.st_size);
    EXPECT_EQ(after.st_mtim.tv_sec, before.st_mtim.tv_sec);
    EXPECT_EQ(after.st_mtim.tv_nsec, before.st_mtim.tv_nsec);
    EXPECT_EQ(refusal(cache), "proof does not match: file changed since it was written");
}

TEST_F(BackingFileTest, ReplacedFileIsDetected)
{
    BackingFileCache cache = open_cache();
    ASSERT_TRUE(cache.publish(m_index, m_ram));
    std::string path = cache.image_path(m_index);
    ASSERT_EQ(::unlink(path.c_str()), 0);
    testing::write_text(path, std::string(m_ram.begin(), m_ram.end()));
    EXPECT_EQ(refusal(cache), "proof does not match: file changed since it was written");
}

TEST_F(BackingFileTest, ForgedProofWithoutTheKeyHasABadMac)
{
    BackingFileCache cache = open_cache();
    ASSERT_TRUE(cache.publish(m_index, m_ram));
    std::string proof = cache.image_path(m_index);
    proof.replace(proof.size() - 4, 4, ".proof");
    std::string text = testing::read_text(proof);
    size_t mac = text.find("mac ") + 4;
    text[mac] = text[mac] == '0' ? '1' : '0';
    ::unlink(proof.c_str());
    testing::write_text(proof, text);
    EXPECT_EQ(refusal(cache), "bad MAC");
}

TEST_F(BackingFileTest, MissingKeyMeansNoImageIsTrusted)
{
    BackingFileCache cache = open_cache();
    ASSERT_TRUE(cache.publish(m_index, m_ram));
    ASSERT_EQ(::unlink(m_directory.file("key/host.key").c_str()), 0);
    EXPECT_EQ(refusal(cache), "no host key");
}

TEST_F(BackingFileTest, AnotherKeyDoesNotVerify)
{
    ASSERT_TRUE(open_cache().publish(m_index, m_ram));
    std::string other = m_directory.file("key/other.key");
    int fd = ::open(other.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0600);
    ASSERT_GE(fd, 0);
    std::vector<uint8_t> key(kHostKeySize, 0x42);
    ASSERT_EQ(::write(fd, key.data(), key.size()), static_cast<ssize_t>(key.size()));
    ::close(fd);
    EXPECT_EQ(refusal(open_cache("key/other.key")), "bad MAC");
}

TEST_F(BackingFileTest, KeyIsCreatedPrivateAndAKeyOthersCanReadIsRefused)
{
    BackingFileCache cache = open_cache();
    ASSERT_TRUE(cache.publish(m_index, m_ram));
    std::string key = m_directory.file("key/host.key");
    struct stat status;
    ASSERT_EQ(::stat(key.c_str(), &status), 0);
    EXPECT_EQ(status.st_mode & 0777, 0600u);
    EXPECT_EQ(status.st_size, static_cast<off_t>(kHostKeySize));

    ASSERT_EQ(::chmod(key.c_str(), 0644), 0);
    EXPECT_NE(refusal(cache).find("must be a file of yours with mode 0600"), std::string::npos);
}

TEST_F(BackingFileTest, PublishRefusesRamOfTheWrongSize)
{
    std::vector<uint8_t> short_ram(kTestChunkSize);
    EXPECT_FALSE(open_cache().publish(m_index, short_ram));
}

} // namespace
} // namespace spore
