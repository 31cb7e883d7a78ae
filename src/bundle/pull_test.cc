#include "bundle/pull.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <fstream>

#include "bundle/bundle_json.h"
#include "bundle/testing/sample_bundle.h"
#include "bundle/unpack.h"
#include "remote/directory_remote.h"
#include "spore/manifest_json.h"

namespace spore::bundle {
namespace {

using spore::testing::exists;
using spore::testing::list_directory;
using spore::testing::read_text;
using ::testing::HasSubstr;
using testing::SampleBundle;

// A bundle directory served as a remote, counting what is fetched and
// failing every fetch after a given number, as a dropped connection would.
class CountingRemote final : public remote::Remote {
public:
    explicit CountingRemote(const std::string& path)
        : m_inner(remote::DirectoryRemote::create(remote::parse_location(path).value()).value())
    {
    }

    const std::string& describe() const override { return m_inner->describe(); }
    Result<void> fetch(
        const remote::ContentRef& content, uint64_t max_size, std::vector<uint8_t>& out) override
    {
        if (m_fetches.fetch_add(1) >= m_fail_after)
            return Error::invalid("connection reset");
        return m_inner->fetch(content, max_size, out);
    }
    Result<bool> contains(const remote::ContentRef& content, uint64_t size) override
    {
        return m_inner->contains(content, size);
    }
    Result<void> store(const remote::ContentRef& content, std::span<const uint8_t> bytes) override
    {
        return m_inner->store(content, bytes);
    }
    Result<void> publish_index(
        const remote::ContentRef& index, std::span<const uint8_t> bytes) override
    {
        return m_inner->publish_index(index, bytes);
    }

    uint64_t fetches() const { return m_fetches; }
    void fail_after(uint64_t fetches) { m_fail_after = fetches; }

private:
    std::unique_ptr<remote::DirectoryRemote> m_inner;
    std::atomic<uint64_t> m_fetches = 0;
    uint64_t m_fail_after = UINT64_MAX;
};

class PullTest : public ::testing::Test {
protected:
    PullTest()
        : m_remote(m_sample.bundle())
        , m_cache(BlobCache::open(m_sample.path("cache")).value())
    {
    }

    PullOptions options(std::optional<std::string> child = std::nullopt)
    {
        PullOptions result;
        result.bundle_digest = m_sample.digest();
        result.child = std::move(child);
        result.cache = &m_cache;
        result.jobs = 2;
        return result;
    }

    // Nothing at out, and no staging directory beside it.
    void expect_nothing_published(const std::string& name)
    {
        EXPECT_FALSE(exists(m_sample.path(name)));
        for (const std::string& entry : list_directory(m_sample.directory()))
            EXPECT_EQ(entry.find(".staging-"), std::string::npos) << entry;
    }

    void overwrite(const std::string& path, const std::string& text)
    {
        std::filesystem::permissions(
            path, std::filesystem::perms::owner_write, std::filesystem::perm_options::add);
        std::ofstream(path, std::ios::binary | std::ios::trunc) << text;
    }

    SampleBundle m_sample;
    CountingRemote m_remote;
    BlobCache m_cache;
};

TEST_F(PullTest, PulledChildIsTheSporeUnpackWrites)
{
    auto pulled = pull_spore(m_remote, m_sample.path("pulled"), options("000002"));
    ASSERT_TRUE(pulled) << pulled.error().message();
    UnpackOptions unpack_options;
    unpack_options.child = "000002";
    ASSERT_TRUE(unpack_bundle(m_sample.bundle(), m_sample.path("unpacked"), unpack_options));

    EXPECT_EQ(read_text(m_sample.path("pulled/manifest.json")),
        read_text(m_sample.path("unpacked/manifest.json")));
    auto spore = SporeReader::open(m_sample.path("pulled"));
    ASSERT_TRUE(spore) << spore.error().message();
    EXPECT_EQ(spore->manifest().identity.fork_index, 2u);
    std::vector<uint8_t> bytes(spore::testing::kTestChunkSize);
    EXPECT_TRUE(spore->chunks().read_verified(m_sample.first_chunk(), bytes));
    EXPECT_TRUE(spore->chunks().read_verified(m_sample.second_chunk(), bytes));
    EXPECT_EQ(pulled->chunks_total, 2u);
    EXPECT_EQ(pulled->chunks_fetched, 2u);
    EXPECT_EQ(pulled->chunks_cached, 0u);
}

TEST_F(PullTest, TheParentIsPulledWhenNoChildIsNamed)
{
    auto pulled = pull_spore(m_remote, m_sample.path("pulled"), options());
    ASSERT_TRUE(pulled) << pulled.error().message();
    EXPECT_EQ(read_text(m_sample.path("pulled/manifest.json")),
        read_text(m_sample.parent() + "/manifest.json"));
}

TEST_F(PullTest, SecondChildOfAPulledBatchFetchesOnlyItsManifests)
{
    ASSERT_TRUE(pull_spore(m_remote, m_sample.path("first"), options("000000")));
    auto second = pull_spore(m_remote, m_sample.path("second"), options("000001"));
    ASSERT_TRUE(second) << second.error().message();

    EXPECT_EQ(second->chunks_fetched, 0u);
    EXPECT_EQ(second->chunks_cached, 2u);
    auto index = parse_index(read_text(m_sample.bundle() + "/index.json")).value();
    const Descriptor* child = find_spore(index, std::string("000001"));
    ASSERT_NE(child, nullptr);
    auto artifact = parse_artifact_manifest(
        read_text(SampleBundle::blob_path(m_sample.bundle(), child->digest)));
    ASSERT_TRUE(artifact);
    EXPECT_EQ(second->bytes_fetched, child->size + artifact->layers.front().size);
}

TEST_F(PullTest, WithoutACacheChunksAreWrittenAndNothingIsCached)
{
    PullOptions uncached = options("000001");
    uncached.cache = nullptr;
    auto pulled = pull_spore(m_remote, m_sample.path("pulled"), uncached);
    ASSERT_TRUE(pulled) << pulled.error().message();
    EXPECT_TRUE(SporeReader::open(m_sample.path("pulled")));
    EXPECT_TRUE(list_directory(m_sample.path("cache")).empty());
}

TEST_F(PullTest, ATamperedChunkIsRefusedAndNothingIsPublished)
{
    overwrite(SampleBundle::blob_path(m_sample.bundle(), m_sample.second_chunk()),
        std::string(spore::testing::kTestChunkSize, 'x'));
    auto pulled = pull_spore(m_remote, m_sample.path("pulled"), options("000001"));
    ASSERT_FALSE(pulled);
    EXPECT_THAT(
        pulled.error().message(), HasSubstr("blob " + m_sample.second_chunk() + " is corrupt"));
    expect_nothing_published("pulled");
    EXPECT_FALSE(exists(m_sample.path("cache/") + m_sample.second_chunk().substr(7)));
}

TEST_F(PullTest, ATruncatedChunkIsRefused)
{
    overwrite(SampleBundle::blob_path(m_sample.bundle(), m_sample.first_chunk()), "short");
    auto pulled = pull_spore(m_remote, m_sample.path("pulled"), options());
    ASSERT_FALSE(pulled);
    EXPECT_THAT(pulled.error().message(), HasSubstr("is truncated (5 of 65536 bytes)"));
    expect_nothing_published("pulled");
}

TEST_F(PullTest, AMissingChunkIsRefused)
{
    ASSERT_EQ(
        ::unlink(SampleBundle::blob_path(m_sample.bundle(), m_sample.first_chunk()).c_str()), 0);
    auto pulled = pull_spore(m_remote, m_sample.path("pulled"), options());
    ASSERT_FALSE(pulled);
    EXPECT_EQ(pulled.error().code(), ErrorCode::NotFound);
    EXPECT_THAT(
        pulled.error().message(), HasSubstr("blob " + m_sample.first_chunk() + " is missing"));
    expect_nothing_published("pulled");
}

TEST_F(PullTest, ADigestThatNamesNoIndexIsRefused)
{
    PullOptions wrong = options();
    wrong.bundle_digest = m_sample.first_chunk();
    auto pulled = pull_spore(m_remote, m_sample.path("pulled"), wrong);
    ASSERT_FALSE(pulled);
    EXPECT_THAT(pulled.error().message(), HasSubstr("index.json: malformed json"));

    wrong.bundle_digest = "sha256:" + std::string(64, '0');
    pulled = pull_spore(m_remote, m_sample.path("pulled"), wrong);
    ASSERT_FALSE(pulled);
    EXPECT_EQ(pulled.error().code(), ErrorCode::NotFound);
    expect_nothing_published("pulled");
}

TEST_F(PullTest, AnUnknownChildIsRefused)
{
    auto pulled = pull_spore(m_remote, m_sample.path("pulled"), options("000003"));
    ASSERT_FALSE(pulled);
    EXPECT_THAT(pulled.error().message(), HasSubstr("no child 000003 in this bundle"));
    expect_nothing_published("pulled");
}

TEST_F(PullTest, AChildNameOverAnotherChildsManifestIsRefused)
{
    // Relabel the entries of children 0 and 1, then name the new index.
    std::string index_path = m_sample.bundle() + "/index.json";
    ImageIndex index = parse_index(read_text(index_path)).value();
    for (Descriptor& entry : index.manifests) {
        std::string& name = entry.annotations[std::string(kChildAnnotation)];
        name = name == "000000" ? "000001" : name == "000001" ? "000000" : name;
        if (entry.annotations[std::string(kRoleAnnotation)] == kParentRole)
            entry.annotations.erase(std::string(kChildAnnotation));
    }
    std::string text = serialize_index(index);
    std::span<const uint8_t> bytes(reinterpret_cast<const uint8_t*>(text.data()), text.size());
    remote::ContentRef content{
        remote::ContentKind::Manifest, digest_of(bytes), std::string(kIndexMediaType)};
    ASSERT_TRUE(m_remote.store(content, bytes));

    PullOptions relabelled = options("000001");
    relabelled.bundle_digest = content.digest;
    auto pulled = pull_spore(m_remote, m_sample.path("pulled"), relabelled);
    ASSERT_FALSE(pulled);
    EXPECT_THAT(pulled.error().message(),
        HasSubstr("the spore manifest is of fork index 0, not child 000001"));
    expect_nothing_published("pulled");
}

TEST_F(PullTest, AnExistingDestinationIsRefusedBeforeAnyTransfer)
{
    ASSERT_EQ(::mkdir(m_sample.path("pulled").c_str(), 0755), 0);
    auto pulled = pull_spore(m_remote, m_sample.path("pulled"), options());
    ASSERT_FALSE(pulled);
    EXPECT_EQ(m_remote.fetches(), 0u);
}

TEST_F(PullTest, AnInterruptedPullLeavesNoSporeAndTheRerunReusesVerifiedChunks)
{
    // Index, OCI manifest, spore manifest and one chunk arrive; the rest fail.
    m_remote.fail_after(4);
    PullOptions serial = options("000001");
    serial.jobs = 1;
    auto interrupted = pull_spore(m_remote, m_sample.path("pulled"), serial);
    ASSERT_FALSE(interrupted);
    EXPECT_THAT(interrupted.error().message(), HasSubstr("connection reset"));
    expect_nothing_published("pulled");

    m_remote.fail_after(UINT64_MAX);
    auto rerun = pull_spore(m_remote, m_sample.path("pulled"), serial);
    ASSERT_TRUE(rerun) << rerun.error().message();
    EXPECT_EQ(rerun->chunks_cached, 1u);
    EXPECT_EQ(rerun->chunks_fetched, 1u);
    EXPECT_TRUE(SporeReader::open(m_sample.path("pulled")));
}

TEST_F(PullTest, ACorruptCacheEntryIsFetchedAgain)
{
    ASSERT_TRUE(pull_spore(m_remote, m_sample.path("first"), options("000000")));
    std::string cached
        = m_sample.path("cache/") + m_sample.first_chunk().substr(kDigestPrefix.size());
    ASSERT_EQ(
        ::unlink(m_sample.path("first/chunks/").append(m_sample.first_chunk().substr(7)).c_str()),
        0);
    overwrite(cached, std::string(spore::testing::kTestChunkSize, 'y'));

    auto second = pull_spore(m_remote, m_sample.path("second"), options("000001"));
    ASSERT_TRUE(second) << second.error().message();
    EXPECT_EQ(second->chunks_fetched, 1u);
    EXPECT_EQ(second->chunks_cached, 1u);
    std::vector<uint8_t> bytes(spore::testing::kTestChunkSize);
    EXPECT_TRUE(SporeReader::open(m_sample.path("second"))
                    ->chunks()
                    .read_verified(m_sample.first_chunk(), bytes));
}

TEST_F(PullTest, ProgressCountsEveryChunk)
{
    PullOptions counted = options("000000");
    PullProgress last;
    int calls = 0;
    counted.progress = [&](const PullProgress& now) {
        last = now;
        calls++;
    };
    ASSERT_TRUE(pull_spore(m_remote, m_sample.path("pulled"), counted));
    EXPECT_EQ(calls, 2);
    EXPECT_EQ(last.chunks_done, 2u);
    EXPECT_EQ(last.chunks_total, 2u);
    EXPECT_EQ(last.bytes_done, 2 * spore::testing::kTestChunkSize);
    EXPECT_EQ(last.bytes_total, last.bytes_done);
}

} // namespace
} // namespace spore::bundle
