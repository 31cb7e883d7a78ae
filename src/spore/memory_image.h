#pragma once

// Guest RAM to and from content-addressed chunks (docs/spore-format.md,
// "Memory"). Capture costs follow the chunks the guest dirtied; restore
// verifies every stored chunk before the guest can see it.

#include <cstdint>
#include <span>
#include <vector>

#include "common/error.h"
#include "spore/chunk_store.h"
#include "spore/manifest.h"

namespace spore {

// Chunk size for new captures: large enough to keep manifests small, small
// enough that a few dirty pages rehash little.
inline constexpr uint64_t kDefaultChunkSize = 2 << 20;

// The number of RAM bytes an index describes; refuses a zero chunk size
// and sizes that overflow.
Result<uint64_t> memory_image_size(const MemoryIndex& index);

// Cuts ram into chunk_size chunks and records each one.
//
// dirty_chunks has one entry per chunk. The contract for a clean chunk:
// with a previous index it holds exactly what previous recorded; without
// one it was never written since it was zero-filled. Clean chunks are
// neither read nor hashed, so a wrong bitmap yields a wrong spore.
//
// A dirty chunk is recorded as zero if all its bytes are zero, otherwise
// hashed and put into store. A clean chunk reuses previous's entry; a stored
// one is linked into store from previous_store, or, when previous_store is
// null, must already be in store.
Result<MemoryIndex> capture_memory(std::span<const uint8_t> ram, uint64_t chunk_size,
    const std::vector<bool>& dirty_chunks, const MemoryIndex* previous, ChunkStore& store,
    ChunkStore* previous_store);

// Fills ram from the index. ram must be exactly the image size and already
// zero-filled (a fresh anonymous mapping), because zero chunks are skipped.
// Stops at the first missing or corrupt chunk; ram is then unusable.
Result<void> restore_memory(const MemoryIndex& index, ChunkStore& store, std::span<uint8_t> ram);

// Whether every byte is zero.
bool is_all_zero(std::span<const uint8_t> bytes);

} // namespace spore
