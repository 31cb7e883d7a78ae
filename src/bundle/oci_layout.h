#pragma once

// A bundle on disk: an OCI image layout directory (docs/bundle-format.md)
// with oci-layout, index.json and blobs/sha256/<hex>. Blobs are named by
// the hex SHA-256 of their bytes, exactly as chunks are, so the blob
// directory doubles as a chunk store and a chunk keeps its digest as a blob.

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "bundle/bundle_json.h"
#include "common/error.h"
#include "spore/chunk_store.h"
#include "spore/staging_directory.h"

namespace spore::bundle {

inline constexpr std::string_view kLayoutFileName = "oci-layout";
inline constexpr std::string_view kIndexFileName = "index.json";
inline constexpr std::string_view kBlobsDirectoryName = "blobs/sha256";

// An opened bundle. index.json has been read within its size limit, hashed
// and parsed; blobs are verified against their descriptor as they are read.
class BundleReader {
public:
    // Opens the bundle directory at path and parses its index.
    static Result<BundleReader> open(const std::string& path);

    const ImageIndex& index() const { return m_index; }
    // "sha256:<hex>" of the exact index.json bytes: the bundle's name.
    const std::string& digest() const { return m_digest; }
    const std::string& path() const { return m_path; }

    // Reads a blob of at most limit bytes and checks its size and digest
    // against the descriptor. Errors name the blob by digest.
    Result<std::vector<uint8_t>> read_blob(const Descriptor& descriptor, uint64_t limit) const;

    // Checks a blob against its descriptor, reading it into buffer (resized
    // to the blob's size), without keeping it.
    Result<void> verify_blob(const Descriptor& descriptor, std::vector<uint8_t>& buffer) const;

    // The blob directory, as a chunk store to link verified chunks from.
    const ChunkStore& blobs() const { return m_blobs; }

private:
    BundleReader(std::string path, ImageIndex index, std::string digest, ChunkStore blobs)
        : m_path(std::move(path))
        , m_index(std::move(index))
        , m_digest(std::move(digest))
        , m_blobs(std::move(blobs))
    {
    }

    std::string m_path;
    ImageIndex m_index;
    std::string m_digest;
    ChunkStore m_blobs;
};

// Builds a bundle in a staging directory next to its final path and
// publishes it whole on commit(); destroying an uncommitted writer removes
// the staging directory.
class BundleWriter {
public:
    // Starts a bundle that will appear at final_path, which must not exist.
    static Result<BundleWriter> begin(const std::string& final_path);

    // Stores bytes as a durable blob and returns its descriptor.
    Result<Descriptor> put_blob(std::span<const uint8_t> bytes, std::string_view media_type);

    // Makes a chunk of a spore's store a chunk blob, once per digest
    // however many spores share it. The bytes are verified against the
    // digest first, so a damaged local chunk never ships; then the blob is
    // a hard link to the chunk file, or a copy where linking fails.
    Result<Descriptor> add_chunk(const ChunkStore& from, const std::string& digest, uint64_t size,
        std::vector<uint8_t>& buffer);

    // Writes the index as index.json and as a blob, writes oci-layout,
    // makes everything durable and publishes. Returns the bundle digest.
    Result<std::string> commit(const ImageIndex& index);

    // The staging directory, for tests; empty once committed.
    const std::string& staging_path() const { return m_staging.path(); }

private:
    BundleWriter(StagingDirectory staging, ChunkStore blobs)
        : m_staging(std::move(staging))
        , m_blobs(std::move(blobs))
    {
    }

    StagingDirectory m_staging;
    ChunkStore m_blobs;
    // Chunk blobs already added, so shared chunks are verified once.
    std::unordered_set<std::string> m_chunks;
};

} // namespace spore::bundle
