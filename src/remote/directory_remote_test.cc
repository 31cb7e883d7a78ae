#include "remote/directory_remote.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <unistd.h>

#include "remote/layout_store.h"
#include "spore/digest.h"
#include "spore/test_support.h"

namespace spore::remote {
namespace {

using spore::testing::read_text;
using spore::testing::TemporaryDirectory;
using ::testing::HasSubstr;

std::span<const uint8_t> bytes_of(std::string_view text)
{
    return {reinterpret_cast<const uint8_t*>(text.data()), text.size()};
}

class DirectoryRemoteTest : public ::testing::Test {
protected:
    DirectoryRemoteTest()
        : m_remote(
            DirectoryRemote::create(parse_location(m_directory.file("store")).value()).value())
    {
    }

    ContentRef blob(std::string_view text)
    {
        return {ContentKind::Blob, digest_of(bytes_of(text)), "x"};
    }

    TemporaryDirectory m_directory;
    std::unique_ptr<DirectoryRemote> m_remote;
};

TEST_F(DirectoryRemoteTest, StoredBlobsAreFetchedBackUnderTheLayoutName)
{
    ContentRef content = blob("hello");
    ASSERT_TRUE(m_remote->store(content, bytes_of("hello")));
    EXPECT_EQ(
        read_text(m_directory.file("store/") + blob_object_name("", content.digest)), "hello");
    EXPECT_TRUE(m_remote->contains(content, 5).value());
    EXPECT_FALSE(m_remote->contains(content, 6).value());

    std::vector<uint8_t> out;
    ASSERT_TRUE(m_remote->fetch(content, 5, out));
    EXPECT_EQ(std::string(out.begin(), out.end()), "hello");
}

TEST_F(DirectoryRemoteTest, AMissingBlobIsNotFound)
{
    std::vector<uint8_t> out;
    auto fetched = m_remote->fetch(blob("absent"), 100, out);
    ASSERT_FALSE(fetched);
    EXPECT_EQ(fetched.error().code(), ErrorCode::NotFound);
    EXPECT_FALSE(m_remote->contains(blob("absent"), 6).value());
}

TEST_F(DirectoryRemoteTest, ABlobOverTheLimitIsRefusedUnread)
{
    ContentRef content = blob("0123456789");
    ASSERT_TRUE(m_remote->store(content, bytes_of("0123456789")));
    std::vector<uint8_t> out;
    auto fetched = m_remote->fetch(content, 9, out);
    ASSERT_FALSE(fetched);
    EXPECT_THAT(fetched.error().message(), HasSubstr("is 10 bytes, over the limit of 9"));
}

TEST_F(DirectoryRemoteTest, ABlobThatIsASymlinkIsRefused)
{
    ContentRef content = blob("elsewhere");
    ASSERT_TRUE(m_remote->store(blob("x"), bytes_of("x")));
    spore::testing::write_text(m_directory.file("outside"), "elsewhere");
    std::string name = m_directory.file("store/") + blob_object_name("", content.digest);
    ASSERT_EQ(::symlink(m_directory.file("outside").c_str(), name.c_str()), 0);
    std::vector<uint8_t> out;
    EXPECT_FALSE(m_remote->fetch(content, 100, out));
    EXPECT_FALSE(m_remote->contains(content, 9).value());
}

TEST_F(DirectoryRemoteTest, PublishingWritesTheLayoutFileAndTheIndex)
{
    ContentRef index{ContentKind::Manifest, digest_of(bytes_of("{}")), "index"};
    ASSERT_TRUE(m_remote->publish_index(index, bytes_of("{}")));
    EXPECT_EQ(read_text(m_directory.file("store/oci-layout")), kLayoutObjectText);
    EXPECT_EQ(read_text(m_directory.file("store/index.json")), "{}");
}

TEST_F(DirectoryRemoteTest, AMalformedDigestIsRefused)
{
    std::vector<uint8_t> out;
    ContentRef bad{ContentKind::Blob, "sha256:../../etc/passwd", "x"};
    EXPECT_FALSE(m_remote->fetch(bad, 100, out));
    EXPECT_FALSE(m_remote->store(bad, bytes_of("x")));
}

} // namespace
} // namespace spore::remote
