#pragma once

// Helpers the pack and unpack tests share: the parent spore and fork batch
// they start from, and readers for what a bundle directory holds.

#include <gtest/gtest.h>

#include <cstdint>
#include <span>
#include <string>

#include "bundle/bundle_json.h"
#include "spore/digest.h"
#include "spore/fork.h"
#include "spore/spore_directory.h"
#include "spore/test_support.h"

namespace spore::bundle::testing {

// The bytes of text, as a digest is taken over them.
inline std::span<const uint8_t> as_bytes(const std::string& text)
{
    return {reinterpret_cast<const uint8_t*>(text.data()), text.size()};
}

// Starts each test from a parent spore with two distinct stored chunks,
// the first used twice, and a zero chunk, and a batch of two children
// forked from it, in a directory of the test's own. Setup failures fail
// the test.
class ForkedParentTest : public ::testing::Test {
protected:
    ForkedParentTest()
    {
        auto writer = SporeWriter::begin(m_parent);
        EXPECT_TRUE(writer) << writer.error().message();
        m_first = writer->chunks().put(spore::testing::chunk_bytes(1)).value();
        m_second = writer->chunks().put(spore::testing::chunk_bytes(2)).value();
        auto committed = writer->commit(
            spore::testing::sample_manifest({{m_first}, {}, {m_second}, {m_first}}));
        EXPECT_TRUE(committed) << committed.error().message();
        auto forked = fork_spore(m_parent, 2, m_batch);
        EXPECT_TRUE(forked) << forked.error().message();
    }

    spore::testing::TemporaryDirectory m_directory;
    std::string m_parent = m_directory.file("parent");
    std::string m_batch = m_directory.file("batch");
    // The path for the bundle under test; this fixture puts nothing there.
    std::string m_bundle = m_directory.file("bundle");
    // The digests of the parent's two stored chunks.
    std::string m_first;
    std::string m_second;
};

// Where a blob lives in a bundle directory.
inline std::string blob_path(const std::string& bundle, const std::string& digest)
{
    return bundle + "/blobs/sha256/" + digest.substr(kDigestPrefix.size());
}

// The bundle's index.json; a failure fails the test and reads as empty.
inline ImageIndex index_of(const std::string& bundle)
{
    auto index = parse_index(spore::testing::read_text(bundle + "/index.json"));
    EXPECT_TRUE(index) << index.error().message();
    return index ? std::move(index).value() : ImageIndex{};
}

// The OCI manifest an index entry names; a failure fails the test and
// reads as empty.
inline ArtifactManifest artifact_of(const std::string& bundle, const Descriptor& entry)
{
    auto artifact
        = parse_artifact_manifest(spore::testing::read_text(blob_path(bundle, entry.digest)));
    EXPECT_TRUE(artifact) << artifact.error().message();
    return artifact ? std::move(artifact).value() : ArtifactManifest{};
}

} // namespace spore::bundle::testing
