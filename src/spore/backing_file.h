#pragma once

// The same-host RAM accelerator (docs/spore-format.md, "Backing files").
// A per-user cache directory holds exact RAM images, named by memory
// digest, that a restore can map MAP_PRIVATE instead of reading chunks. An
// image is an accelerator, never an authority: it is used only while a
// proof (the file's identity under a MAC with a per-user secret key) shows
// that SporeVM wrote it and nothing changed it since.

#include <array>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>

#include "common/error.h"
#include "common/unique_fd.h"
#include "spore/chunk_store.h"
#include "spore/manifest.h"

namespace spore {

// Size of the per-user MAC key.
inline constexpr size_t kHostKeySize = 32;
// Largest proof file read.
inline constexpr uint64_t kMaxProofSize = 4096;

// Thread safety: none; use one cache object per thread.
class BackingFileCache {
public:
    // The per-user cache: images in $SPOREVM_CACHE/ram, else
    // ${XDG_CACHE_HOME:-$HOME/.cache}/sporevm/ram; the key at
    // ${XDG_DATA_HOME:-$HOME/.local/share}/sporevm/host.key.
    static Result<BackingFileCache> open_default();

    // A cache in directory (made 0700 if missing) keyed by the key at key_path.
    static Result<BackingFileCache> open(const std::string& directory, const std::string& key_path);

    // A read-only descriptor of the image for index if it exists and its
    // proof verifies; otherwise nullopt and, if reason is given, why, for
    // --debug. Errors are reserved for failures unrelated to the cache's
    // contents; any doubt about an image is a miss.
    Result<std::optional<UniqueFd>> find(const MemoryIndex& index, std::string* reason) const;

    // Publishes the image index describes, taking stored chunks from ram
    // (which the caller vouches index was captured from) and leaving zero
    // chunks as holes. An image that already verifies is kept.
    Result<void> publish(const MemoryIndex& index, std::span<const uint8_t> ram);

    // Publishes the image from store's chunks, each verified as it is read.
    Result<void> publish_from_chunks(const MemoryIndex& index, ChunkStore& store);

    // Where the image for index lives, whether or not it exists.
    std::string image_path(const MemoryIndex& index) const;

    // The cache directory.
    const std::string& directory() const { return m_directory; }

private:
    using HostKey = std::array<uint8_t, kHostKeySize>;
    // Yields the bytes of one stored chunk, valid until the next call.
    using ChunkSource = std::function<Result<std::span<const uint8_t>>(size_t chunk)>;

    BackingFileCache(std::string directory, UniqueFd directory_fd, std::string key_path)
        : m_directory(std::move(directory))
        , m_directory_fd(std::move(directory_fd))
        , m_key_path(std::move(key_path))
    {
    }

    Result<void> publish_image(const MemoryIndex& index, const ChunkSource& source);
    // Writes, syncs and renames the image into place; returns it still open.
    Result<UniqueFd> write_image(
        const MemoryIndex& index, const std::string& name, const ChunkSource& source);
    // Why the open image fd cannot be trusted, or nullopt if it can.
    std::optional<std::string> check_image(
        const MemoryIndex& index, const std::string& digest, int fd) const;
    Result<HostKey> load_or_create_key() const;

    std::string m_directory;
    UniqueFd m_directory_fd;
    std::string m_key_path;
};

} // namespace spore
