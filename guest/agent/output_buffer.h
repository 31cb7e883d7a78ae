#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <span>

namespace spore::agent {

// The tail of one output stream, addressed by absolute stream offsets: it
// holds bytes [start(), end()) of everything ever appended. Bytes are kept
// in fixed blocks so that appending, dropping the oldest bytes and finding
// an offset cost the same however the stream was written.
class OutputBuffer {
public:
    // Size of one block, and so the most one read or one view returns.
    static constexpr size_t kBlockSize = 64 * 1024;

    OutputBuffer() = default;
    OutputBuffer(OutputBuffer&&) = default;
    OutputBuffer& operator=(OutputBuffer&&) = default;

    // Offset of the oldest byte still held.
    uint64_t start() const { return m_start; }

    // Offset just past the newest byte: the stream's length so far.
    uint64_t end() const { return m_end; }

    // Bytes held.
    uint64_t size() const { return m_end - m_start; }

    // Free space at the end to read new bytes into, 1..kBlockSize bytes;
    // commit() says how many were written there.
    std::span<uint8_t> tail_space();
    void commit(size_t length);

    // Copies bytes onto the end.
    void append(std::span<const uint8_t> bytes);

    // Contiguous bytes from offset on, at most limit of them; offset must
    // be in [start(), end()]. Valid until the next change to the buffer.
    std::span<const uint8_t> view(uint64_t offset, size_t limit) const;

    // Forgets every byte before offset (clamped to [start(), end()]).
    void drop_until(uint64_t offset);

private:
    std::deque<std::unique_ptr<uint8_t[]>> m_blocks;
    uint64_t m_base = 0; // offset of m_blocks.front()[0]
    uint64_t m_start = 0;
    uint64_t m_end = 0;
};

} // namespace spore::agent
