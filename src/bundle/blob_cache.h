#pragma once

// The node-local blob cache (docs/bundle-format.md, "The blob cache"):
// every blob a pull has verified (chunks, spore manifests, OCI manifests,
// indexes), named by digest, so that a second pull of anything already
// seen costs no transfer. It is an accelerator, never an authority: every
// read verifies the bytes again, and a file that fails is removed and
// fetched anew.

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "common/error.h"
#include "spore/chunk_store.h"

namespace spore::bundle {

// Thread safety: read, put and link_into may run concurrently.
class BlobCache {
public:
    // The per-user cache, $SPOREVM_CACHE/blobs (spore/cache_directory.h),
    // created mode 0700.
    static Result<BlobCache> open_default();
    // A cache in directory, created if missing.
    static Result<BlobCache> open(const std::string& directory);

    // Reads the blob into out (resized) if the cache holds it with exactly
    // size bytes (any size up to max_size when size is absent) and it
    // verifies. Returns false if it is absent; a file that fails to verify
    // is removed and reported as absent.
    Result<bool> read(const std::string& digest, std::optional<uint64_t> size, uint64_t max_size,
        std::vector<uint8_t>& out) const;

    // Adds verified bytes under their digest. Durability is deferred:
    // sync() must run before a spore naming them is published.
    Result<void> put(const std::string& digest, std::span<const uint8_t> bytes) const;

    // Makes everything put so far durable.
    Result<void> sync() const { return m_store.sync_file_system(); }

    // The cache as a chunk store, to link cached chunks from.
    const ChunkStore& store() const { return m_store; }

private:
    explicit BlobCache(ChunkStore store)
        : m_store(std::move(store))
    {
    }

    // Removes a file that failed verification, so the next read misses.
    void discard(const std::string& digest) const;

    mutable ChunkStore m_store;
};

} // namespace spore::bundle
