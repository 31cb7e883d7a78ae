#include "bundle/unpack.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

#include "bundle/bundle_json.h"
#include "bundle/pack.h"
#include "bundle/testing/bundle_test_support.h"
#include "spore/digest.h"
#include "spore/fork.h"
#include "spore/manifest_json.h"
#include "spore/spore_directory.h"
#include "spore/test_support.h"

namespace spore::bundle {
namespace {

using spore::testing::chunk_bytes;
using spore::testing::exists;
using spore::testing::kTestChunkSize;
using spore::testing::list_directory;
using spore::testing::read_text;
using spore::testing::sample_manifest;
using spore::testing::write_text;
using ::testing::HasSubstr;

class UnpackTest : public testing::ForkedParentTest {
protected:
    // Packs the parent and the two children of its fork. Unpacked spores go
    // into their own directory, so a refusal can be checked to leave
    // nothing at all there.
    UnpackTest()
    {
        auto packed = pack_bundle(m_parent, m_batch, m_bundle);
        EXPECT_TRUE(packed) << packed.error().message();
        m_bundle_digest = packed ? packed->digest : "";
        EXPECT_EQ(::mkdir(m_outputs.c_str(), 0755), 0);
    }

    UnpackResult unpack(const UnpackOptions& options = {})
    {
        auto result = unpack_bundle(m_bundle, m_out, options);
        EXPECT_TRUE(result) << result.error().message();
        return result ? std::move(result).value() : UnpackResult{};
    }

    // The refusal's message, after checking that neither the spore nor a
    // staging directory was left behind.
    std::string refusal(const UnpackOptions& options = {})
    {
        auto result = unpack_bundle(m_bundle, m_out, options);
        EXPECT_FALSE(result) << "unpack succeeded";
        EXPECT_FALSE(exists(m_out));
        EXPECT_EQ(list_directory(m_outputs), std::vector<std::string>{});
        return result ? "" : result.error().message();
    }

    std::string blob_path(const std::string& digest)
    {
        return testing::blob_path(m_bundle, digest);
    }

    // Replaces a blob with other bytes under the same name. The old file is
    // unlinked first: a chunk blob is a hard link to the parent's chunk.
    void replace_blob(const std::string& digest, const std::string& bytes)
    {
        ASSERT_EQ(::unlink(blob_path(digest).c_str()), 0) << digest;
        write_text(blob_path(digest), bytes);
    }

    // Stores bytes as a blob, as a writer would, and returns its digest.
    std::string add_blob(const std::string& bytes)
    {
        std::string digest = digest_of(testing::as_bytes(bytes));
        write_text(blob_path(digest), bytes);
        return digest;
    }

    ImageIndex index() { return testing::index_of(m_bundle); }

    ArtifactManifest artifact(size_t entry)
    {
        return testing::artifact_of(m_bundle, index().manifests.at(entry));
    }

    // Stores a new OCI manifest for an index entry and points the index at
    // it, so that the bundle stays consistent except for what the test
    // changed in the manifest.
    void replace_artifact(size_t entry, const ArtifactManifest& manifest)
    {
        std::string text = serialize_artifact_manifest(manifest);
        ImageIndex edited = index();
        edited.manifests.at(entry).digest = add_blob(text);
        edited.manifests.at(entry).size = text.size();
        write_text(m_bundle + "/index.json", serialize_index(edited));
    }

    Manifest manifest_of(const std::string& spore)
    {
        auto reader = SporeReader::open(spore);
        EXPECT_TRUE(reader) << reader.error().message();
        return reader ? reader->manifest() : Manifest{};
    }

    // Checks the unpacked spore against the original: the same canonical
    // manifest.json and every stored chunk readable and verified.
    void expect_same_spore(const std::string& original)
    {
        EXPECT_EQ(read_text(m_out + "/manifest.json"), read_text(original + "/manifest.json"));
        auto reader = SporeReader::open(m_out);
        ASSERT_TRUE(reader) << reader.error().message();
        EXPECT_EQ(reader->manifest(), manifest_of(original));
        std::vector<uint8_t> buffer(kTestChunkSize);
        for (const std::string& digest : {m_first, m_second}) {
            auto verified = reader->chunks().read_verified(digest, buffer);
            EXPECT_TRUE(verified) << verified.error().message();
            EXPECT_EQ(buffer, chunk_bytes(digest == m_first ? 1 : 2));
        }
    }

    std::string m_outputs = m_directory.file("outputs");
    std::string m_out = m_outputs + "/spore";
    std::string m_bundle_digest;
};

// ---- what unpacking reproduces

TEST_F(UnpackTest, ParentIsReproducedByteForByte)
{
    UnpackResult result = unpack();
    EXPECT_EQ(result.bundle_digest, m_bundle_digest);
    EXPECT_EQ(result.manifest_digest, index().manifests[0].digest);
    EXPECT_EQ(result.chunks, 2u);
    expect_same_spore(m_parent);
    EXPECT_EQ(list_directory(m_outputs), std::vector<std::string>{"spore"});
    EXPECT_EQ(list_directory(m_out), (std::vector<std::string>{"chunks", "manifest.json"}));
}

TEST_F(UnpackTest, ChildIsReproducedByteForByte)
{
    UnpackOptions options;
    options.child = "000001";
    UnpackResult result = unpack(options);
    EXPECT_EQ(result.manifest_digest, index().manifests[2].digest);
    expect_same_spore(m_batch + "/000001");
    EXPECT_EQ(manifest_of(m_out).identity.fork_index, 1u);
}

TEST_F(UnpackTest, UnpackedSporeOwnsItsChunksAsLinksToTheBundleBlobs)
{
    unpack();
    struct stat chunks { };
    ASSERT_EQ(::lstat((m_out + "/chunks").c_str(), &chunks), 0);
    EXPECT_TRUE(S_ISDIR(chunks.st_mode));
    struct stat chunk { };
    struct stat blob { };
    ASSERT_EQ(::lstat((m_out + "/chunks/" + m_first.substr(7)).c_str(), &chunk), 0);
    ASSERT_EQ(::lstat(blob_path(m_first).c_str(), &blob), 0);
    EXPECT_EQ(chunk.st_ino, blob.st_ino);
    EXPECT_EQ(list_directory(m_out + "/chunks").size(), 2u);
}

TEST_F(UnpackTest, MatchingExpectedBundleDigestIsAccepted)
{
    UnpackOptions options;
    options.bundle_digest = m_bundle_digest;
    EXPECT_EQ(unpack(options).bundle_digest, m_bundle_digest);
}

TEST_F(UnpackTest, UnpackedSporePacksBackToTheSameSporeBlobs)
{
    unpack();
    auto repacked = pack_bundle(m_out, "", m_directory.file("repacked"));
    ASSERT_TRUE(repacked) << repacked.error().message();
    auto index = parse_index(read_text(m_directory.file("repacked/index.json")));
    ASSERT_TRUE(index) << index.error().message();
    EXPECT_EQ(index->manifests[0].digest, this->index().manifests[0].digest);
}

TEST_F(UnpackTest, SporeWithoutStoredChunksUnpacksToAnEmptyChunkStore)
{
    std::string zeros = m_directory.file("zeros");
    auto writer = SporeWriter::begin(zeros);
    ASSERT_TRUE(writer) << writer.error().message();
    ASSERT_TRUE(writer->commit(sample_manifest()));
    std::string bundle = m_directory.file("zeros-bundle");
    ASSERT_TRUE(pack_bundle(zeros, "", bundle));

    auto result = unpack_bundle(bundle, m_out);
    ASSERT_TRUE(result) << result.error().message();
    EXPECT_EQ(result->chunks, 0u);
    EXPECT_EQ(read_text(m_out + "/manifest.json"), read_text(zeros + "/manifest.json"));
    EXPECT_EQ(list_directory(m_out + "/chunks"), std::vector<std::string>{});
}

// ---- refusals

TEST_F(UnpackTest, TamperedChunkBlobIsRefused)
{
    std::vector<uint8_t> bytes = chunk_bytes(1);
    bytes[4096] ^= 1;
    replace_blob(m_first, std::string(bytes.begin(), bytes.end()));
    EXPECT_THAT(refusal(), HasSubstr("blob " + m_first + " is corrupt: content hashes to "));
}

TEST_F(UnpackTest, TamperedSporeManifestBlobIsRefused)
{
    std::string digest = artifact(0).layers[0].digest;
    std::string text = read_text(blob_path(digest));
    text[text.find("kvm")] = 'K';
    replace_blob(digest, text);
    EXPECT_THAT(refusal(), HasSubstr("blob " + digest + " is corrupt"));
}

TEST_F(UnpackTest, TamperedOciManifestBlobIsRefused)
{
    std::string digest = index().manifests[0].digest;
    std::string text = read_text(blob_path(digest));
    text[text.find("chunk.v1")] = 'C';
    replace_blob(digest, text);
    EXPECT_THAT(refusal(), HasSubstr("blob " + digest + " is corrupt"));
}

TEST_F(UnpackTest, TruncatedChunkBlobIsRefused)
{
    std::string bytes = read_text(blob_path(m_second));
    replace_blob(m_second, bytes.substr(0, bytes.size() - 1));
    EXPECT_THAT(refusal(), HasSubstr("blob " + m_second + " is truncated (65535 of 65536 bytes)"));
}

TEST_F(UnpackTest, OverlongChunkBlobIsRefused)
{
    replace_blob(m_second, read_text(blob_path(m_second)) + "x");
    EXPECT_THAT(
        refusal(), HasSubstr("blob " + m_second + " is too long (65537 bytes, expected 65536)"));
}

TEST_F(UnpackTest, MissingChunkBlobIsRefused)
{
    ASSERT_EQ(::unlink(blob_path(m_second).c_str()), 0);
    EXPECT_THAT(refusal(), HasSubstr("blob " + m_second + " is missing"));
}

TEST_F(UnpackTest, BlobReplacedBySymlinkIsRefused)
{
    // The link points at the right bytes: a bundle must hold its blobs,
    // not name files elsewhere on this host.
    std::string elsewhere = m_directory.file("elsewhere");
    write_text(elsewhere, read_text(blob_path(m_first)));
    ASSERT_EQ(::unlink(blob_path(m_first).c_str()), 0);
    ASSERT_EQ(::symlink(elsewhere.c_str(), blob_path(m_first).c_str()), 0);
    EXPECT_THAT(refusal(), HasSubstr("blob " + m_first + " is a symlink"));
}

TEST_F(UnpackTest, OciManifestBlobReplacedBySymlinkIsRefused)
{
    std::string digest = index().manifests[0].digest;
    std::string elsewhere = m_directory.file("elsewhere");
    write_text(elsewhere, read_text(blob_path(digest)));
    ASSERT_EQ(::unlink(blob_path(digest).c_str()), 0);
    ASSERT_EQ(::symlink(elsewhere.c_str(), blob_path(digest).c_str()), 0);
    EXPECT_THAT(refusal(), HasSubstr("blob " + digest + " is a symlink"));
}

TEST_F(UnpackTest, WrongExpectedBundleDigestIsRefused)
{
    UnpackOptions options;
    options.bundle_digest = "sha256:" + std::string(64, '0');
    EXPECT_EQ(refusal(options),
        m_bundle + ": bundle digest is " + m_bundle_digest + ", expected "
            + *options.bundle_digest);
}

TEST_F(UnpackTest, MalformedExpectedBundleDigestIsRefused)
{
    UnpackOptions options;
    options.bundle_digest = "sha256:" + m_bundle_digest.substr(8);
    EXPECT_EQ(refusal(options),
        "bundle digest \"" + *options.bundle_digest + "\" is not a sha256 digest");
}

TEST_F(UnpackTest, EditedIndexNoLongerMatchesTheExpectedBundleDigest)
{
    // A foreign annotation keeps the index valid but changes its bytes.
    ImageIndex edited = index();
    edited.manifests[0].annotations["org.opencontainers.image.ref.name"] = "latest";
    write_text(m_bundle + "/index.json", serialize_index(edited));
    UnpackOptions options;
    options.bundle_digest = m_bundle_digest;
    EXPECT_THAT(refusal(options), HasSubstr(", expected " + m_bundle_digest));
}

TEST_F(UnpackTest, UnknownChildIsRefused)
{
    UnpackOptions options;
    options.child = "000002";
    EXPECT_EQ(refusal(options), m_bundle + ": no child 000002 in this bundle");
}

TEST_F(UnpackTest, MalformedChildNameIsRefused)
{
    UnpackOptions options;
    options.child = "1";
    EXPECT_EQ(refusal(options), "child name \"1\" is not six digits");
}

TEST_F(UnpackTest, ParentOnlyBundleHasNoChildToUnpack)
{
    std::string bundle = m_directory.file("parent-only");
    ASSERT_TRUE(pack_bundle(m_parent, "", bundle));
    UnpackOptions options;
    options.child = "000000";
    auto result = unpack_bundle(bundle, m_out, options);
    ASSERT_FALSE(result);
    EXPECT_EQ(result.error().message(), bundle + ": no child 000000 in this bundle");
    EXPECT_FALSE(exists(m_out));
}

TEST_F(UnpackTest, UnsupportedBundleVersionIsRefused)
{
    std::string text = read_text(m_bundle + "/index.json");
    std::string version = R"("org.sporevm.bundle.version":"1")";
    ASSERT_NE(text.find(version), std::string::npos);
    text.replace(text.find(version), version.size(), R"("org.sporevm.bundle.version":"2")");
    write_text(m_bundle + "/index.json", text);
    EXPECT_EQ(refusal(),
        m_bundle + ": index.json: unsupported bundle version \"2\" (this spore reads 1)");
}

TEST_F(UnpackTest, NonCanonicalSporeManifestBlobIsRefused)
{
    // The same manifest with one more trailing newline, stored as a blob
    // with its descriptor fixed up, so only canonicality can fail.
    ArtifactManifest edited = artifact(0);
    std::string text = read_text(blob_path(edited.layers[0].digest)) + "\n";
    ASSERT_TRUE(parse_manifest(text));
    edited.layers[0].digest = add_blob(text);
    edited.layers[0].size = text.size();
    replace_artifact(0, edited);
    EXPECT_THAT(refusal(),
        HasSubstr("blob " + edited.layers[0].digest + ": spore manifest is not in canonical form"));
}

TEST_F(UnpackTest, SporeManifestBlobThatDoesNotParseIsRefused)
{
    ArtifactManifest edited = artifact(0);
    edited.layers[0].digest = add_blob("{}");
    edited.layers[0].size = 2;
    replace_artifact(0, edited);
    EXPECT_THAT(refusal(), HasSubstr("blob " + edited.layers[0].digest + ": manifest: "));
}

TEST_F(UnpackTest, OciManifestMissingAChunkLayerIsRefused)
{
    ArtifactManifest edited = artifact(0);
    edited.layers.pop_back();
    replace_artifact(0, edited);
    EXPECT_THAT(
        refusal(), HasSubstr("1 chunk layers for the 2 stored chunks of the spore manifest"));
}

TEST_F(UnpackTest, OciManifestWithAnExtraChunkLayerIsRefused)
{
    ArtifactManifest edited = artifact(0);
    std::string extra = add_blob(std::string(kTestChunkSize, 'x'));
    edited.layers.push_back({std::string(kChunkMediaType), extra, kTestChunkSize, {}, {}});
    replace_artifact(0, edited);
    EXPECT_THAT(
        refusal(), HasSubstr("3 chunk layers for the 2 stored chunks of the spore manifest"));
}

TEST_F(UnpackTest, OciManifestWithChunkLayersOutOfOrderIsRefused)
{
    ArtifactManifest edited = artifact(0);
    std::swap(edited.layers[1], edited.layers[2]);
    replace_artifact(0, edited);
    EXPECT_THAT(refusal(),
        HasSubstr("layers[1] is " + m_second + " where the spore manifest's stored chunk 0 is "
            + m_first));
}

TEST_F(UnpackTest, OciManifestWithAChunkLayerOfTheWrongSizeIsRefused)
{
    ArtifactManifest edited = artifact(0);
    edited.layers[2].size = kTestChunkSize + 1;
    replace_artifact(0, edited);
    EXPECT_THAT(refusal(), HasSubstr("layers[2] is 65537 bytes, not the chunk size 65536"));
}

TEST_F(UnpackTest, OciManifestThatDoesNotParseIsRefused)
{
    ArtifactManifest edited = artifact(0);
    edited.config.size = 3;
    replace_artifact(0, edited);
    EXPECT_THAT(refusal(), HasSubstr(": manifest: config: expected the OCI empty descriptor"));
}

TEST_F(UnpackTest, ExistingOutPathIsRefusedAndLeftAlone)
{
    ASSERT_EQ(::mkdir(m_out.c_str(), 0755), 0);
    write_text(m_out + "/keep", "mine");
    auto result = unpack_bundle(m_bundle, m_out);
    ASSERT_FALSE(result);
    EXPECT_EQ(result.error().message(), m_out + ": already exists");
    EXPECT_EQ(list_directory(m_out), std::vector<std::string>{"keep"});
    EXPECT_EQ(list_directory(m_outputs), std::vector<std::string>{"spore"});
}

TEST_F(UnpackTest, DirectoryWithoutLayoutFileIsNotABundle)
{
    ASSERT_EQ(::unlink((m_bundle + "/oci-layout").c_str()), 0);
    EXPECT_EQ(refusal(), m_bundle + ": not a bundle (no oci-layout)");
}

TEST_F(UnpackTest, MissingBundleIsRefused)
{
    auto result = unpack_bundle(m_directory.file("nowhere"), m_out);
    ASSERT_FALSE(result);
    EXPECT_EQ(result.error().message(), m_directory.file("nowhere") + ": no such bundle");
    EXPECT_FALSE(exists(m_out));
}

} // namespace
} // namespace spore::bundle
