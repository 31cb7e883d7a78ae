#pragma once

// A directory of content-addressed chunks. Each file is named by the
// lower-case hex SHA-256 of its bytes (no "sha256:" prefix); the API speaks
// full digests. Files appear only by rename, so a reader never sees a
// half-written chunk under a real name; names starting with '.' are
// temporaries and never chunks.

#include <cstdint>
#include <span>
#include <string>

#include "common/error.h"
#include "common/unique_fd.h"
#include "spore/durable_file.h"

namespace spore {

// Largest chunk file a store writes or reads.
inline constexpr uint64_t kMaxChunkFileSize = 64 << 20;

// Thread safety: put, read_verified, check_stored and contains may run
// concurrently from several threads on one store.
class ChunkStore {
public:
    // Opens the store at path; with create, makes the directory if missing.
    // path may be a symlink to the directory, as a fork child's chunks is.
    static Result<ChunkStore> open(const std::string& path, bool create);

    // Stores bytes and returns their digest. A chunk already present under
    // that name with the right size is kept and not rewritten.
    Result<std::string> put(std::span<const uint8_t> bytes);

    // Stores bytes the caller has verified to hash to digest, replacing any
    // file of that name (which a caller reaches only when it failed to
    // verify). With Deferred durability the caller must call
    // sync_file_system() before publishing anything that names it.
    Result<void> put_verified(
        const std::string& digest, std::span<const uint8_t> bytes, Durability durability);

    // Reads the chunk into out, whose size is the chunk's expected size, and
    // verifies its digest. On failure out holds unspecified bytes.
    Result<void> read_verified(const std::string& digest, std::span<uint8_t> out) const;

    // Cheap presence check without hashing: the chunk exists with size bytes.
    Result<void> check_stored(const std::string& digest, uint64_t size) const;

    // Whether a chunk file with this digest exists; false for a malformed digest.
    bool contains(const std::string& digest) const;

    // Makes other's chunk present here: a hard link, or a verified copy when
    // the stores are on different file systems.
    Result<void> link_from(const ChunkStore& other, const std::string& digest);

    // Makes the directory's entries durable (after a batch of puts).
    Result<void> sync() const;

    // Makes everything written on the store's file system durable, Deferred
    // chunks included (syncfs).
    Result<void> sync_file_system() const;

    // The size of a stored chunk file without reading it; NotFound if it is
    // missing.
    Result<uint64_t> stored_size(const std::string& digest) const;

    // The directory this store lives in.
    const std::string& path() const { return m_path; }

private:
    ChunkStore(std::string path, UniqueFd directory)
        : m_path(std::move(path))
        , m_directory(std::move(directory))
    {
    }

    // The file name for a digest, after checking the digest's form.
    static Result<std::string> file_name(const std::string& digest);

    Result<std::string> write_new(
        std::span<const uint8_t> bytes, const std::string& digest, Durability durability);
    Result<void> copy_from(const ChunkStore& other, const std::string& digest);

    std::string m_path;
    UniqueFd m_directory;
};

} // namespace spore
