#pragma once

// A spore on disk (docs/spore-format.md): DIR/manifest.json and DIR/chunks/,
// where chunks/ may be a symlink into a fork batch's shared store. Writers
// build it in a hidden staging directory next to DIR and rename it into
// place, so DIR either does not exist or is complete. Readers never accept
// a staging directory or a spore inside one.

#include <string>
#include <string_view>

#include "common/error.h"
#include "spore/chunk_store.h"
#include "spore/manifest.h"
#include "spore/staging_directory.h"

namespace spore {

// File name of the manifest inside a spore.
inline constexpr std::string_view kManifestFileName = "manifest.json";
// Directory name of the chunk store inside a spore.
inline constexpr std::string_view kChunksDirectoryName = "chunks";

// Builds one spore. Chunks go into chunks() while the manifest is being
// assembled; commit() publishes everything at once. Destroying a writer
// that has not committed removes its staging directory.
class SporeWriter {
public:
    // Starts a spore that will appear at final_path, which must not exist.
    static Result<SporeWriter> begin(const std::string& final_path);

    SporeWriter(SporeWriter&& other) noexcept = default;
    SporeWriter& operator=(SporeWriter&&) = delete;
    SporeWriter(const SporeWriter&) = delete;
    SporeWriter& operator=(const SporeWriter&) = delete;
    // Removes the staging directory unless committed.
    ~SporeWriter() = default;

    // The staging chunk store; every stored chunk the manifest names must be here.
    ChunkStore& chunks() { return m_chunks; }

    // Validates the manifest, checks its chunks are present, writes it and
    // renames the staging directory to the final path durably.
    Result<void> commit(const Manifest& manifest);

    // The staging directory, for diagnostics and tests; empty once committed.
    const std::string& staging_path() const { return m_staging.path(); }

private:
    SporeWriter(StagingDirectory staging, ChunkStore chunks)
        : m_staging(std::move(staging))
        , m_chunks(std::move(chunks))
    {
    }

    Result<void> write_manifest(const Manifest& manifest);

    StagingDirectory m_staging;
    ChunkStore m_chunks;
};

// A published spore, opened for restore. The manifest is parsed strictly
// and every stored chunk is known to exist with the right size; chunk
// contents are verified as they are read.
class SporeReader {
public:
    // Opens the spore at path. Its chunks/ may be a directory or a symlink
    // to one (a fork child's chunks -> ../chunks).
    static Result<SporeReader> open(const std::string& path);

    // The parsed, validated manifest.
    const Manifest& manifest() const { return m_manifest; }

    // The spore's chunk store.
    ChunkStore& chunks() { return m_chunks; }

    // The spore directory as given to open().
    const std::string& path() const { return m_path; }

private:
    SporeReader(std::string path, Manifest manifest, ChunkStore chunks)
        : m_path(std::move(path))
        , m_manifest(std::move(manifest))
        , m_chunks(std::move(chunks))
    {
    }

    std::string m_path;
    Manifest m_manifest;
    ChunkStore m_chunks;
};

} // namespace spore
