#include "bundle/pack.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

#include "bundle/bundle_json.h"
#include "bundle/testing/bundle_test_support.h"
#include "spore/digest.h"
#include "spore/fork.h"
#include "spore/manifest_json.h"
#include "spore/spore_directory.h"
#include "spore/test_support.h"

namespace spore::bundle {
namespace {

using spore::testing::exists;
using spore::testing::list_directory;
using spore::testing::read_text;
using spore::testing::sample_manifest;
using spore::testing::write_text;
using testing::artifact_of;
using testing::as_bytes;
using testing::blob_path;
using ::testing::HasSubstr;
using testing::index_of;

struct stat status_of(const std::string& path)
{
    struct stat status { };
    EXPECT_EQ(::lstat(path.c_str(), &status), 0) << path;
    return status;
}

class PackTest : public testing::ForkedParentTest {
protected:
    PackResult pack(const std::string& children, const std::string& out)
    {
        auto result = pack_bundle(m_parent, children, out);
        EXPECT_TRUE(result) << result.error().message();
        return result ? std::move(result).value() : PackResult{};
    }

    // Overwrites a chunk file in place with bytes of the same size, as a
    // failing disk might; every hard link to it sees the damage.
    void corrupt_in_place(const std::string& path)
    {
        int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
        ASSERT_GE(fd, 0) << path;
        uint8_t byte = 0xee;
        EXPECT_EQ(::pwrite(fd, &byte, 1, 100), 1);
        ::close(fd);
    }
};

TEST_F(PackTest, ParentAloneBecomesALayoutWithOneIndexEntry)
{
    PackResult result = pack("", m_bundle);
    EXPECT_EQ(result.children, 0u);
    EXPECT_EQ(result.chunks, 2u);
    EXPECT_EQ(
        list_directory(m_bundle), (std::vector<std::string>{"blobs", "index.json", "oci-layout"}));
    EXPECT_EQ(read_text(m_bundle + "/oci-layout"), serialize_layout_file());

    std::string index_text = read_text(m_bundle + "/index.json");
    EXPECT_EQ(result.digest, digest_of(as_bytes(index_text)));
    ImageIndex index = index_of(m_bundle);
    ASSERT_EQ(index.manifests.size(), 1u);
    EXPECT_EQ(index.manifests[0].annotations, (Annotations{{"org.sporevm.role", "parent"}}));
}

TEST_F(PackTest, IndexIsAlsoStoredAsABlobNamedByTheBundleDigest)
{
    PackResult result = pack("", m_bundle);
    EXPECT_EQ(read_text(blob_path(m_bundle, result.digest)), read_text(m_bundle + "/index.json"));
}

TEST_F(PackTest, SporeManifestLayerIsTheCanonicalTextAndChunksFollowInOrderOfFirstUse)
{
    pack("", m_bundle);
    ImageIndex index = index_of(m_bundle);
    ASSERT_EQ(index.manifests.size(), 1u);
    ArtifactManifest artifact = artifact_of(m_bundle, index.manifests[0]);
    ASSERT_EQ(artifact.layers.size(), 3u);

    auto parent = SporeReader::open(m_parent);
    ASSERT_TRUE(parent) << parent.error().message();
    EXPECT_EQ(read_text(blob_path(m_bundle, artifact.layers[0].digest)),
        serialize_manifest(parent->manifest()));
    EXPECT_EQ(artifact.layers[1].digest, m_first);
    EXPECT_EQ(artifact.layers[2].digest, m_second);
    EXPECT_EQ(artifact.layers[1].size, spore::testing::kTestChunkSize);
    EXPECT_EQ(artifact.config.digest, kEmptyDigest);
    EXPECT_EQ(read_text(blob_path(m_bundle, std::string(kEmptyDigest))), kEmptyContent);
}

TEST_F(PackTest, ParentAndChildrenShareEachDistinctChunkBlob)
{
    PackResult result = pack(m_batch, m_bundle);
    EXPECT_EQ(result.children, 2u);
    EXPECT_EQ(result.chunks, 2u);

    ImageIndex index = index_of(m_bundle);
    ASSERT_EQ(index.manifests.size(), 3u);
    EXPECT_EQ(index.manifests[1].annotations,
        (Annotations{{"org.sporevm.child", "000000"}, {"org.sporevm.role", "child"}}));
    EXPECT_EQ(index.manifests[2].annotations,
        (Annotations{{"org.sporevm.child", "000001"}, {"org.sporevm.role", "child"}}));
    for (const Descriptor& entry : index.manifests) {
        ArtifactManifest artifact = artifact_of(m_bundle, entry);
        ASSERT_EQ(artifact.layers.size(), 3u);
        EXPECT_EQ(artifact.layers[1].digest, m_first);
        EXPECT_EQ(artifact.layers[2].digest, m_second);
    }

    // The empty config, three spore manifests, three OCI manifests, the
    // index and two chunks: no blob twice.
    EXPECT_EQ(list_directory(m_bundle + "/blobs/sha256").size(), 10u);
}

TEST_F(PackTest, ChildManifestBlobsAreTheChildrensCanonicalManifests)
{
    pack(m_batch, m_bundle);
    ImageIndex index = index_of(m_bundle);
    ASSERT_EQ(index.manifests.size(), 3u);
    for (size_t position = 1; position < 3; position++) {
        auto child = SporeReader::open(m_batch + "/" + fork_child_name(position - 1));
        ASSERT_TRUE(child) << child.error().message();
        ArtifactManifest artifact = artifact_of(m_bundle, index.manifests[position]);
        ASSERT_FALSE(artifact.layers.empty());
        EXPECT_EQ(read_text(blob_path(m_bundle, artifact.layers[0].digest)),
            serialize_manifest(child->manifest()));
    }
}

TEST_F(PackTest, EveryBlobIsNamedByTheDigestOfItsBytes)
{
    pack(m_batch, m_bundle);
    std::string blobs = m_bundle + "/blobs/sha256";
    for (const std::string& name : list_directory(blobs))
        EXPECT_EQ(digest_of(as_bytes(read_text(blobs + "/" + name))), "sha256:" + name);
}

TEST_F(PackTest, ChunkBlobsAreHardLinksToTheParentsChunks)
{
    pack(m_batch, m_bundle);
    for (const std::string& digest : {m_first, m_second}) {
        struct stat blob = status_of(blob_path(m_bundle, digest));
        struct stat chunk = status_of(m_parent + "/chunks/" + digest.substr(7));
        EXPECT_TRUE(S_ISREG(blob.st_mode));
        EXPECT_EQ(blob.st_ino, chunk.st_ino);
        EXPECT_EQ(blob.st_dev, chunk.st_dev);
    }
}

TEST_F(PackTest, SameInputPacksToTheSameBundleDigest)
{
    PackResult first = pack(m_batch, m_bundle);
    PackResult second = pack(m_batch, m_directory.file("again"));
    EXPECT_EQ(first.digest, second.digest);
    EXPECT_EQ(read_text(m_bundle + "/index.json"), read_text(m_directory.file("again/index.json")));
}

TEST_F(PackTest, LayoutOfTheManifestFileDoesNotChangeTheBundle)
{
    PackResult canonical = pack("", m_bundle);
    // A manifest.json that parses to the same manifest but is not byte for
    // byte canonical, as an older or foreign writer might leave.
    std::string path = m_parent + "/manifest.json";
    write_text(path, read_text(path) + "\n\n");
    ASSERT_TRUE(SporeReader::open(m_parent));
    PackResult reformatted = pack("", m_directory.file("again"));
    EXPECT_EQ(reformatted.digest, canonical.digest);
}

TEST_F(PackTest, DifferentChildrenGiveADifferentBundleDigest)
{
    PackResult parent_only = pack("", m_bundle);
    PackResult with_children = pack(m_batch, m_directory.file("again"));
    EXPECT_NE(parent_only.digest, with_children.digest);
}

TEST_F(PackTest, SporeWithoutStoredChunksPacksToItsManifestAlone)
{
    // All of its RAM is zero chunks, which are never stored.
    std::string empty = m_directory.file("zeros");
    auto writer = SporeWriter::begin(empty);
    ASSERT_TRUE(writer) << writer.error().message();
    ASSERT_TRUE(writer->commit(sample_manifest()));

    auto result = pack_bundle(empty, "", m_bundle);
    ASSERT_TRUE(result) << result.error().message();
    EXPECT_EQ(result->chunks, 0u);
    ImageIndex index = index_of(m_bundle);
    ASSERT_EQ(index.manifests.size(), 1u);
    EXPECT_EQ(artifact_of(m_bundle, index.manifests[0]).layers.size(), 1u);
}

TEST_F(PackTest, ExistingOutPathIsRefusedAndLeftAlone)
{
    ASSERT_EQ(::mkdir(m_bundle.c_str(), 0755), 0);
    write_text(m_bundle + "/keep", "mine");
    auto result = pack_bundle(m_parent, m_batch, m_bundle);
    ASSERT_FALSE(result);
    EXPECT_EQ(result.error().message(), m_bundle + ": already exists");
    EXPECT_EQ(list_directory(m_bundle), std::vector<std::string>{"keep"});
    EXPECT_EQ(list_directory(m_directory.path()),
        (std::vector<std::string>{"batch", "bundle", "parent"}));
}

TEST_F(PackTest, CorruptParentChunkFailsThePackAndLeavesNothingBehind)
{
    // Break the batch's link first so only the parent's copy is damaged.
    std::string name = m_second.substr(7);
    std::string shared = m_batch + "/chunks/" + name;
    std::string kept = read_text(shared);
    ASSERT_EQ(::unlink(shared.c_str()), 0);
    write_text(shared, kept);
    corrupt_in_place(m_parent + "/chunks/" + name);

    auto result = pack_bundle(m_parent, m_batch, m_bundle);
    ASSERT_FALSE(result);
    EXPECT_THAT(result.error().message(), HasSubstr("chunk " + m_second + " is corrupt"));
    EXPECT_FALSE(exists(m_bundle));
    EXPECT_EQ(list_directory(m_directory.path()), (std::vector<std::string>{"batch", "parent"}));
}

TEST_F(PackTest, MissingChildChunkFailsThePackAndLeavesNothingBehind)
{
    std::string shared = m_batch + "/chunks/" + m_first.substr(7);
    ASSERT_EQ(::unlink(shared.c_str()), 0);
    auto result = pack_bundle(m_parent, m_batch, m_bundle);
    ASSERT_FALSE(result);
    EXPECT_THAT(result.error().message(), HasSubstr("chunk " + m_first + " is missing"));
    EXPECT_EQ(list_directory(m_directory.path()), (std::vector<std::string>{"batch", "parent"}));
}

TEST_F(PackTest, BatchWithoutChildrenIsRefused)
{
    std::string empty = m_directory.file("empty");
    ASSERT_EQ(::mkdir(empty.c_str(), 0755), 0);
    ASSERT_EQ(::mkdir((empty + "/12345").c_str(), 0755), 0);
    auto result = pack_bundle(m_parent, empty, m_bundle);
    ASSERT_FALSE(result);
    EXPECT_EQ(
        result.error().message(), empty + ": no children (no subdirectories named by six digits)");
    EXPECT_FALSE(exists(m_bundle));
}

TEST_F(PackTest, MissingBatchIsRefused)
{
    auto result = pack_bundle(m_parent, m_directory.file("nowhere"), m_bundle);
    ASSERT_FALSE(result);
    EXPECT_THAT(result.error().message(), HasSubstr("nowhere"));
    EXPECT_FALSE(exists(m_bundle));
}

TEST_F(PackTest, EntriesThatAreNotChildDirectoriesAreIgnored)
{
    // The batch already holds its shared chunks/; a stray file with a
    // child's name is not a child either.
    write_text(m_batch + "/000007", "not a spore");
    write_text(m_batch + "/notes", "");
    PackResult result = pack(m_batch, m_bundle);
    EXPECT_EQ(result.children, 2u);
    EXPECT_EQ(index_of(m_bundle).manifests.size(), 3u);
}

TEST_F(PackTest, ChildDirectoryThatIsNotASporeFailsThePack)
{
    ASSERT_EQ(::mkdir((m_batch + "/000005").c_str(), 0755), 0);
    auto result = pack_bundle(m_parent, m_batch, m_bundle);
    ASSERT_FALSE(result);
    EXPECT_THAT(result.error().message(), HasSubstr("000005: not a spore (no manifest.json)"));
    EXPECT_EQ(list_directory(m_directory.path()), (std::vector<std::string>{"batch", "parent"}));
}

TEST_F(PackTest, ABatchMissingAChildIsRefused)
{
    std::filesystem::remove_all(m_batch + "/000001");
    auto result = pack_bundle(m_parent, m_batch, m_bundle);
    ASSERT_FALSE(result);
    EXPECT_THAT(result.error().message(),
        HasSubstr("holds 1 children of a batch of 2 (a batch packs whole)"));
    EXPECT_FALSE(exists(m_bundle));
}

TEST_F(PackTest, ABatchOfAnotherSporeIsRefused)
{
    std::string other = m_directory.file("other");
    auto writer = SporeWriter::begin(other);
    ASSERT_TRUE(writer);
    std::string chunk = writer->chunks().put(spore::testing::chunk_bytes(9)).value();
    ASSERT_TRUE(writer->commit(sample_manifest({{chunk}, {}, {}, {}})));
    std::string other_batch = m_directory.file("other-batch");
    ASSERT_TRUE(fork_spore(other, 2, other_batch));

    auto result = pack_bundle(m_parent, other_batch, m_bundle);
    ASSERT_FALSE(result);
    EXPECT_THAT(result.error().message(), HasSubstr("000000: not a fork of the parent"));
    EXPECT_FALSE(exists(m_bundle));
}

TEST_F(PackTest, AChildMovedToAnotherNameIsRefused)
{
    std::filesystem::rename(m_batch + "/000001", m_batch + "/000002");
    std::filesystem::rename(m_batch + "/000000", m_batch + "/000001");
    std::filesystem::rename(m_batch + "/000002", m_batch + "/000000");
    auto result = pack_bundle(m_parent, m_batch, m_bundle);
    ASSERT_FALSE(result);
    EXPECT_THAT(result.error().message(), HasSubstr("000000: its fork index is 1, not its name"));
}

TEST_F(PackTest, ParentThatIsNotASporeIsRefused)
{
    auto result = pack_bundle(m_directory.file("nowhere"), "", m_bundle);
    ASSERT_FALSE(result);
    EXPECT_THAT(result.error().message(), HasSubstr("no such spore"));
    EXPECT_FALSE(exists(m_bundle));
}

} // namespace
} // namespace spore::bundle
