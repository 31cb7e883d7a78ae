#include "bundle/push.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <mutex>
#include <set>

#include "bundle/oci_layout.h"
#include "bundle/testing/sample_bundle.h"
#include "bundle/unpack.h"
#include "remote/directory_remote.h"

namespace spore::bundle {
namespace {

using spore::testing::exists;
using spore::testing::read_text;
using ::testing::HasSubstr;
using testing::SampleBundle;

// Records the order of stores into a directory remote.
class RecordingRemote final : public remote::Remote {
public:
    explicit RecordingRemote(const std::string& path)
        : m_inner(remote::DirectoryRemote::create(remote::parse_location(path).value()).value())
    {
    }

    const std::string& describe() const override { return m_inner->describe(); }
    Result<void> fetch(
        const remote::ContentRef& content, uint64_t max_size, std::vector<uint8_t>& out) override
    {
        return m_inner->fetch(content, max_size, out);
    }
    Result<bool> contains(const remote::ContentRef& content, uint64_t size) override
    {
        return m_inner->contains(content, size);
    }
    Result<void> store(const remote::ContentRef& content, std::span<const uint8_t> bytes) override
    {
        record((content.kind == remote::ContentKind::Manifest ? "manifest " : "blob ")
            + content.digest);
        return m_inner->store(content, bytes);
    }
    Result<void> publish_index(
        const remote::ContentRef& index, std::span<const uint8_t> bytes) override
    {
        record("publish " + index.digest);
        return m_inner->publish_index(index, bytes);
    }

    std::vector<std::string> events() const
    {
        std::lock_guard guard(m_lock);
        return m_events;
    }

private:
    void record(std::string event)
    {
        std::lock_guard guard(m_lock);
        m_events.push_back(std::move(event));
    }

    std::unique_ptr<remote::DirectoryRemote> m_inner;
    mutable std::mutex m_lock;
    std::vector<std::string> m_events;
};

class PushTest : public ::testing::Test {
protected:
    PushTest()
        : m_remote(m_sample.path("remote"))
    {
    }

    SampleBundle m_sample;
    RecordingRemote m_remote;
};

TEST_F(PushTest, APushedDirectoryIsTheSameBundle)
{
    auto pushed = push_bundle(m_sample.bundle(), m_remote, {});
    ASSERT_TRUE(pushed) << pushed.error().message();
    EXPECT_EQ(pushed->bundle_digest, m_sample.digest());
    EXPECT_EQ(pushed->spores, 4u);

    auto copy = BundleReader::open(m_sample.path("remote"));
    ASSERT_TRUE(copy) << copy.error().message();
    EXPECT_EQ(copy->digest(), m_sample.digest());
    UnpackOptions options;
    options.child = "000002";
    options.bundle_digest = m_sample.digest();
    EXPECT_TRUE(unpack_bundle(m_sample.path("remote"), m_sample.path("child"), options));
}

TEST_F(PushTest, EveryBlobIsSentOnceAndTheIndexIsPublishedLast)
{
    ASSERT_TRUE(push_bundle(m_sample.bundle(), m_remote, {}));
    std::vector<std::string> events = m_remote.events();
    ASSERT_GE(events.size(), 2u);
    EXPECT_EQ(events.back(), "publish " + m_sample.digest());
    EXPECT_EQ(events[events.size() - 2], "manifest " + m_sample.digest());
    std::set<std::string> distinct(events.begin(), events.end());
    EXPECT_EQ(distinct.size(), events.size());
    EXPECT_EQ(std::count(events.begin(), events.end(), "blob " + m_sample.first_chunk()), 1);

    // Every spore manifest goes after every blob, so a reader never finds
    // a manifest whose blobs are still missing.
    size_t first_manifest = 0;
    while (!events[first_manifest].starts_with("manifest "))
        first_manifest++;
    for (size_t position = first_manifest; position < events.size(); position++)
        EXPECT_FALSE(events[position].starts_with("blob ")) << events[position];
}

TEST_F(PushTest, ASecondPushSendsOnlyTheIndex)
{
    ASSERT_TRUE(push_bundle(m_sample.bundle(), m_remote, {}));
    auto again = push_bundle(m_sample.bundle(), m_remote, {});
    ASSERT_TRUE(again) << again.error().message();
    EXPECT_EQ(again->blobs_uploaded, 1u);
    EXPECT_EQ(again->blobs_present, again->blobs_total - 1);
}

TEST_F(PushTest, ACorruptLocalBlobIsNotSentAndNoIndexIsPublished)
{
    std::string chunk = SampleBundle::blob_path(m_sample.bundle(), m_sample.second_chunk());
    std::filesystem::permissions(
        chunk, std::filesystem::perms::owner_write, std::filesystem::perm_options::add);
    std::ofstream(chunk, std::ios::binary | std::ios::trunc)
        << std::string(spore::testing::kTestChunkSize, 'z');

    auto pushed = push_bundle(m_sample.bundle(), m_remote, {});
    ASSERT_FALSE(pushed);
    EXPECT_THAT(
        pushed.error().message(), HasSubstr("blob " + m_sample.second_chunk() + " is corrupt"));
    EXPECT_FALSE(exists(m_sample.path("remote/index.json")));
    EXPECT_FALSE(exists(SampleBundle::blob_path(m_sample.path("remote"), m_sample.second_chunk())));
}

TEST_F(PushTest, ANonBundleIsRefused)
{
    auto pushed = push_bundle(m_sample.parent(), m_remote, {});
    ASSERT_FALSE(pushed);
    EXPECT_THAT(pushed.error().message(), HasSubstr("not a bundle"));
    EXPECT_TRUE(m_remote.events().empty());
}

} // namespace
} // namespace spore::bundle
