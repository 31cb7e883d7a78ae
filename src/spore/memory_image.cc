#include "spore/memory_image.h"

#include <algorithm>
#include <charconv>
#include <cstring>
#include <functional>
#include <system_error>
#include <thread>

namespace spore {
namespace {

// Fewer chunks than this are handled on the calling thread alone: starting
// a thread costs about as much as hashing a couple of small chunks.
constexpr size_t kParallelMinimum = 4;

using RangeWork = std::function<Result<void>(size_t begin, size_t end)>;

// Runs work over [0, count) in two halves, the second on a helper thread
// when there is enough work. SHA-256 dominates capture and restore, and two
// threads roughly halve it without starving the vCPUs of the host.
Result<void> run_in_two_halves(size_t count, const RangeWork& work)
{
    if (count < kParallelMinimum)
        return work(0, count);
    size_t middle = count / 2;
    Result<void> second;
    std::thread helper;
    try {
        helper = std::thread([&] { second = work(middle, count); });
    } catch (const std::system_error&) {
        // No thread to spare: the whole range runs here instead.
        return work(0, count);
    }
    Result<void> first = work(0, middle);
    helper.join();
    if (!first)
        return first;
    return second;
}

std::string chunk_context(size_t index, uint64_t chunk_size)
{
    char offset[17] = {};
    std::to_chars(offset, offset + 16, index * chunk_size, 16);
    return "memory chunk " + std::to_string(index) + " at ram offset 0x" + offset;
}

Result<size_t> chunk_count(uint64_t ram_size, uint64_t chunk_size)
{
    if (chunk_size == 0 || chunk_size > kMaxChunkFileSize)
        return Error::invalid(
            "memory: chunk size " + std::to_string(chunk_size) + " is out of range");
    if (ram_size % chunk_size != 0) {
        return Error::invalid("memory: ram size " + std::to_string(ram_size)
            + " is not a multiple of the chunk size " + std::to_string(chunk_size));
    }
    return ram_size / chunk_size;
}

Result<void> check_capture_inputs(std::span<const uint8_t> ram, uint64_t chunk_size,
    const std::vector<bool>& dirty_chunks, const MemoryIndex* previous)
{
    size_t count = TRY(chunk_count(ram.size(), chunk_size));
    if (dirty_chunks.size() != count) {
        return Error::invalid("memory: dirty bitmap has " + std::to_string(dirty_chunks.size())
            + " entries for " + std::to_string(count) + " chunks");
    }
    if (previous && (previous->chunk_size != chunk_size || previous->chunks.size() != count))
        return Error::invalid("memory: the previous index describes a different ram layout");
    return {};
}

Result<MemoryChunk> capture_chunk(std::span<const uint8_t> bytes, ChunkStore& store)
{
    if (is_all_zero(bytes))
        return MemoryChunk{};
    return MemoryChunk{TRY(store.put(bytes))};
}

// Makes a clean chunk recorded by the previous capture present in store.
Result<void> reuse_chunk(
    const MemoryChunk& chunk, uint64_t chunk_size, ChunkStore& store, ChunkStore* previous_store)
{
    if (!chunk.digest)
        return {};
    if (previous_store && previous_store != &store)
        return store.link_from(*previous_store, *chunk.digest);
    return store.check_stored(*chunk.digest, chunk_size);
}

} // namespace

Result<uint64_t> memory_image_size(const MemoryIndex& index)
{
    if (index.chunk_size == 0)
        return Error::invalid("memory: chunk size is zero");
    if (index.chunks.size() > UINT64_MAX / index.chunk_size)
        return Error::invalid("memory: image size overflows");
    return index.chunks.size() * index.chunk_size;
}

bool is_all_zero(std::span<const uint8_t> bytes)
{
    constexpr size_t kHead = 16;
    size_t head = std::min(bytes.size(), kHead);
    if (!std::all_of(bytes.begin(), bytes.begin() + head, [](uint8_t byte) { return byte == 0; }))
        return false;
    if (bytes.size() <= kHead)
        return true;
    // The first kHead bytes are zero and every byte equals the one kHead
    // before it, so all are zero; memcmp is the fastest vectorized scan at hand.
    return std::memcmp(bytes.data(), bytes.data() + kHead, bytes.size() - kHead) == 0;
}

Result<MemoryIndex> capture_memory(std::span<const uint8_t> ram, uint64_t chunk_size,
    const std::vector<bool>& dirty_chunks, const MemoryIndex* previous, ChunkStore& store,
    ChunkStore* previous_store)
{
    TRY(check_capture_inputs(ram, chunk_size, dirty_chunks, previous));
    MemoryIndex index{chunk_size, std::vector<MemoryChunk>(dirty_chunks.size())};

    std::vector<size_t> dirty;
    for (size_t chunk = 0; chunk < dirty_chunks.size(); chunk++) {
        if (dirty_chunks[chunk]) {
            dirty.push_back(chunk);
        } else if (previous) {
            index.chunks[chunk] = previous->chunks[chunk];
            TRY_CONTEXT(reuse_chunk(index.chunks[chunk], chunk_size, store, previous_store),
                chunk_context(chunk, chunk_size));
        }
    }

    // Each worker writes only its own elements of index.chunks.
    TRY(run_in_two_halves(dirty.size(), [&](size_t begin, size_t end) -> Result<void> {
        for (size_t position = begin; position < end; position++) {
            size_t chunk = dirty[position];
            auto bytes = ram.subspan(chunk * chunk_size, chunk_size);
            index.chunks[chunk]
                = TRY_CONTEXT(capture_chunk(bytes, store), chunk_context(chunk, chunk_size));
        }
        return {};
    }));
    return index;
}

Result<void> restore_memory(const MemoryIndex& index, ChunkStore& store, std::span<uint8_t> ram)
{
    uint64_t size = TRY(memory_image_size(index));
    if (ram.size() != size) {
        return Error::invalid("memory: ram is " + std::to_string(ram.size())
            + " bytes but the index describes " + std::to_string(size));
    }
    TRY(chunk_count(size, index.chunk_size));

    std::vector<size_t> stored;
    for (size_t chunk = 0; chunk < index.chunks.size(); chunk++) {
        if (index.chunks[chunk].digest)
            stored.push_back(chunk);
    }
    return run_in_two_halves(stored.size(), [&](size_t begin, size_t end) -> Result<void> {
        for (size_t position = begin; position < end; position++) {
            size_t chunk = stored[position];
            auto bytes = ram.subspan(chunk * index.chunk_size, index.chunk_size);
            TRY_CONTEXT(store.read_verified(*index.chunks[chunk].digest, bytes),
                chunk_context(chunk, index.chunk_size));
        }
        return {};
    });
}

} // namespace spore
