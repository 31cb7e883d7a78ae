#pragma once

// A small bundle for the transfer tests: a parent with two distinct stored
// chunks (one used twice) and a zero chunk, a fork batch of three children
// sharing them, all packed into one bundle directory.

#include <gtest/gtest.h>

#include <string>

#include "bundle/pack.h"
#include "spore/digest.h"
#include "spore/fork.h"
#include "spore/spore_directory.h"
#include "spore/test_support.h"

namespace spore::bundle::testing {

class SampleBundle {
public:
    SampleBundle()
    {
        auto writer = SporeWriter::begin(parent());
        EXPECT_TRUE(writer) << writer.error().message();
        m_first = writer->chunks().put(spore::testing::chunk_bytes(1)).value();
        m_second = writer->chunks().put(spore::testing::chunk_bytes(2)).value();
        auto committed = writer->commit(
            spore::testing::sample_manifest({{m_first}, {}, {m_second}, {m_first}}));
        EXPECT_TRUE(committed) << committed.error().message();
        auto forked = fork_spore(parent(), 3, m_directory.file("batch"));
        EXPECT_TRUE(forked) << forked.error().message();
        auto packed = pack_bundle(parent(), m_directory.file("batch"), bundle());
        EXPECT_TRUE(packed) << packed.error().message();
        m_digest = packed ? packed->digest : "";
    }

    std::string parent() const { return m_directory.file("parent"); }
    std::string bundle() const { return m_directory.file("bundle"); }
    const std::string& digest() const { return m_digest; }
    // The two stored chunks every spore of the bundle uses.
    const std::string& first_chunk() const { return m_first; }
    const std::string& second_chunk() const { return m_second; }

    // Where a blob lives in a bundle directory.
    static std::string blob_path(const std::string& bundle, const std::string& digest)
    {
        return bundle + "/blobs/sha256/" + digest.substr(kDigestPrefix.size());
    }

    // A fresh path in the test's directory.
    std::string path(const std::string& name) const { return m_directory.file(name); }
    const std::string& directory() const { return m_directory.path(); }

private:
    spore::testing::TemporaryDirectory m_directory;
    std::string m_first;
    std::string m_second;
    std::string m_digest;
};

} // namespace spore::bundle::testing
