#include "spore/spore_directory.h"

#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

#include "spore/manifest_json.h"
#include "spore/test_support.h"

namespace spore {
namespace {

using testing::chunk_bytes;
using testing::exists;
using testing::list_directory;
using testing::sample_manifest;
using testing::TemporaryDirectory;

class SporeDirectoryTest : public ::testing::Test {
protected:
    // Stages a spore with one stored chunk and returns its manifest.
    Manifest stage(SporeWriter& writer)
    {
        auto digest = writer.chunks().put(chunk_bytes(7));
        EXPECT_TRUE(digest);
        return sample_manifest({{}, {*digest}, {}, {*digest}});
    }

    SporeWriter begin()
    {
        auto writer = SporeWriter::begin(m_target);
        EXPECT_TRUE(writer) << writer.error().message();
        return std::move(writer).value();
    }

    TemporaryDirectory m_directory;
    std::string m_target = m_directory.file("my-spore");
};

TEST_F(SporeDirectoryTest, CommitPublishesACompleteSporeAndNothingElse)
{
    SporeWriter writer = begin();
    Manifest manifest = stage(writer);
    EXPECT_FALSE(exists(m_target));
    ASSERT_TRUE(writer.commit(manifest));

    EXPECT_EQ(list_directory(m_directory.path()), std::vector<std::string>{"my-spore"});
    EXPECT_EQ(list_directory(m_target), (std::vector<std::string>{"chunks", "manifest.json"}));
    auto reader = SporeReader::open(m_target);
    ASSERT_TRUE(reader) << reader.error().message();
    EXPECT_EQ(reader->manifest(), manifest);
    EXPECT_EQ(testing::read_text(m_target + "/manifest.json"), serialize_manifest(manifest));
}

TEST_F(SporeDirectoryTest, StagingHappensInAHiddenSiblingDirectory)
{
    SporeWriter writer = begin();
    auto names = list_directory(m_directory.path());
    ASSERT_EQ(names.size(), 1u);
    EXPECT_TRUE(names[0].starts_with(".my-spore.staging-"));
    EXPECT_TRUE(is_staging_name(names[0]));
    EXPECT_FALSE(is_staging_name("my-spore"));
}

TEST_F(SporeDirectoryTest, AbandonedWriterLeavesNothingBehind)
{
    {
        SporeWriter writer = begin();
        stage(writer);
    }
    EXPECT_TRUE(list_directory(m_directory.path()).empty());
}

TEST_F(SporeDirectoryTest, BeginRefusesAnExistingTarget)
{
    ASSERT_EQ(::mkdir(m_target.c_str(), 0755), 0);
    auto writer = SporeWriter::begin(m_target);
    ASSERT_FALSE(writer);
    EXPECT_EQ(writer.error().message(), m_target + ": already exists");
}

TEST_F(SporeDirectoryTest, CommitRefusesATargetThatAppearedMeanwhile)
{
    SporeWriter writer = begin();
    Manifest manifest = stage(writer);
    ASSERT_EQ(::mkdir(m_target.c_str(), 0755), 0);
    auto result = writer.commit(manifest);
    ASSERT_FALSE(result);
    EXPECT_EQ(result.error().errno_value(), EEXIST);
    EXPECT_TRUE(list_directory(m_target).empty());
}

TEST_F(SporeDirectoryTest, CommitRefusesAManifestWhoseChunksAreMissing)
{
    SporeWriter writer = begin();
    std::string absent = "sha256:" + std::string(64, 'c');
    auto result = writer.commit(sample_manifest({{absent}, {}, {}, {}}));
    ASSERT_FALSE(result);
    EXPECT_NE(result.error().message().find("is missing"), std::string::npos);
    EXPECT_FALSE(exists(m_target));
}

TEST_F(SporeDirectoryTest, CommitRefusesAnInvalidManifest)
{
    SporeWriter writer = begin();
    Manifest manifest = stage(writer);
    manifest.platform.vcpu_count = 3;
    EXPECT_FALSE(writer.commit(manifest));
    EXPECT_FALSE(exists(m_target));
}

TEST_F(SporeDirectoryTest, SecondCommitIsRefused)
{
    SporeWriter writer = begin();
    Manifest manifest = stage(writer);
    ASSERT_TRUE(writer.commit(manifest));
    EXPECT_FALSE(writer.commit(manifest));
    EXPECT_TRUE(SporeReader::open(m_target));
}

TEST_F(SporeDirectoryTest, ReaderReportsAMissingSpore)
{
    auto reader = SporeReader::open(m_target);
    ASSERT_FALSE(reader);
    EXPECT_EQ(reader.error().code(), ErrorCode::NotFound);
    EXPECT_EQ(reader.error().message(), m_target + ": no such spore");
}

TEST_F(SporeDirectoryTest, ReaderRefusesADirectoryWithoutManifest)
{
    ASSERT_EQ(::mkdir(m_target.c_str(), 0755), 0);
    auto reader = SporeReader::open(m_target);
    ASSERT_FALSE(reader);
    EXPECT_EQ(reader.error().message(), m_target + ": not a spore (no manifest.json)");
}

TEST_F(SporeDirectoryTest, ReaderRefusesAStagingDirectoryEvenWithAManifest)
{
    SporeWriter writer = begin();
    Manifest manifest = stage(writer);
    testing::write_text(writer.staging_path() + "/manifest.json", serialize_manifest(manifest));
    auto reader = SporeReader::open(writer.staging_path());
    ASSERT_FALSE(reader);
    EXPECT_NE(reader.error().message().find("unfinished staging directory"), std::string::npos);
}

TEST_F(SporeDirectoryTest, ReaderRefusesASporeWithAMissingOrTruncatedChunk)
{
    SporeWriter writer = begin();
    auto digest = writer.chunks().put(chunk_bytes(9)).value();
    ASSERT_TRUE(writer.commit(sample_manifest({{digest}, {}, {}, {}})));
    std::string chunk = m_target + "/chunks/" + digest.substr(7);

    ASSERT_EQ(::truncate(chunk.c_str(), 100), 0);
    auto truncated = SporeReader::open(m_target);
    ASSERT_FALSE(truncated);
    EXPECT_NE(
        truncated.error().message().find("is truncated (100 of 65536 bytes)"), std::string::npos);

    ASSERT_EQ(::unlink(chunk.c_str()), 0);
    auto missing = SporeReader::open(m_target);
    ASSERT_FALSE(missing);
    EXPECT_NE(missing.error().message().find("is missing"), std::string::npos);
}

TEST_F(SporeDirectoryTest, ReaderRefusesAnOversizeManifestWithoutReadingIt)
{
    ASSERT_EQ(::mkdir(m_target.c_str(), 0755), 0);
    std::string manifest = m_target + "/manifest.json";
    testing::write_text(manifest, "");
    ASSERT_EQ(::truncate(manifest.c_str(), kMaxManifestSize + 1), 0);
    auto reader = SporeReader::open(m_target);
    ASSERT_FALSE(reader);
    EXPECT_NE(reader.error().message().find("larger than the limit"), std::string::npos);
}

TEST_F(SporeDirectoryTest, ReaderRefusesAnUnparsableManifest)
{
    ASSERT_EQ(::mkdir(m_target.c_str(), 0755), 0);
    testing::write_text(
        m_target + "/manifest.json", "{\"schema\": \"sporevm.spore\", \"version\": 2}");
    auto reader = SporeReader::open(m_target);
    ASSERT_FALSE(reader);
    EXPECT_EQ(reader.error().message(),
        m_target + ": manifest: unsupported version 2 (this spore supports 1)");
}

} // namespace
} // namespace spore
