#include "guest/agent/output_buffer.h"

#include <algorithm>

namespace spore::agent {

std::span<uint8_t> OutputBuffer::tail_space()
{
    uint64_t used = m_end - m_base;
    // Not zeroed: bytes are read into before anything views them, and
    // zeroing each stream's first block is visible in profiles of short
    // commands.
    if (used == m_blocks.size() * kBlockSize)
        m_blocks.push_back(std::make_unique_for_overwrite<uint8_t[]>(kBlockSize));
    size_t position = static_cast<size_t>(used - (m_blocks.size() - 1) * kBlockSize);
    return {m_blocks.back().get() + position, kBlockSize - position};
}

void OutputBuffer::commit(size_t length)
{
    m_end += length;
}

void OutputBuffer::append(std::span<const uint8_t> bytes)
{
    while (!bytes.empty()) {
        auto space = tail_space();
        size_t length = std::min(space.size(), bytes.size());
        std::copy_n(bytes.begin(), length, space.begin());
        commit(length);
        bytes = bytes.subspan(length);
    }
}

std::span<const uint8_t> OutputBuffer::view(uint64_t offset, size_t limit) const
{
    if (offset < m_start || offset >= m_end)
        return {};
    uint64_t relative = offset - m_base;
    size_t block = static_cast<size_t>(relative / kBlockSize);
    size_t position = static_cast<size_t>(relative % kBlockSize);
    uint64_t available = std::min<uint64_t>(kBlockSize - position, m_end - offset);
    return {m_blocks[block].get() + position, std::min<size_t>(available, limit)};
}

void OutputBuffer::drop_until(uint64_t offset)
{
    m_start = std::clamp(offset, m_start, m_end);
    // The last block stays even when emptied: tail_space() continues in it.
    while (m_blocks.size() > 1 && m_start - m_base >= kBlockSize) {
        m_blocks.pop_front();
        m_base += kBlockSize;
    }
    if (m_blocks.size() == 1 && m_start == m_end && m_start - m_base == kBlockSize) {
        m_blocks.pop_front();
        m_base += kBlockSize;
    }
}

} // namespace spore::agent
