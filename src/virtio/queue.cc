#include "virtio/queue.h"

#include <algorithm>
#include <bit>
#include <cinttypes>
#include <cstdio>

namespace spore {

// Virtio 1.x rings are little-endian; so are both hosts we build for, which
// lets ring structures be copied without byte swapping.
static_assert(std::endian::native == std::endian::little);

namespace {

// Split ring layout, virtio 1.2 §2.7.5 to §2.7.8.
struct RingDescriptor {
    uint64_t address;
    uint32_t length;
    uint16_t flags;
    uint16_t next;
};
static_assert(sizeof(RingDescriptor) == 16);

struct UsedElement {
    uint32_t id;
    uint32_t length;
};
static_assert(sizeof(UsedElement) == 8);

constexpr uint16_t kDescriptorNext = 1;
constexpr uint16_t kDescriptorWrite = 2;
constexpr uint16_t kDescriptorIndirect = 4;

// Offsets inside the rings: flags, then idx, then the entries.
constexpr uint64_t kRingIndexOffset = 2;
constexpr uint64_t kRingEntriesOffset = 4;

// Both rings end with an event field used only with EVENT_IDX. Linux lays it
// out anyway, and requiring it keeps the layout check identical to §2.7.
uint64_t avail_ring_bytes(uint16_t size)
{
    return 6 + 2 * uint64_t{size};
}
uint64_t used_ring_bytes(uint16_t size)
{
    return 6 + 8 * uint64_t{size};
}

Result<void> check_area(const GuestMemory& memory, const char* name, GuestAddress address,
    uint64_t length, uint64_t alignment)
{
    char message[160];
    if (address.value % alignment != 0) {
        std::snprintf(message, sizeof message,
            "virtqueue: %s at 0x%" PRIx64 ": not %" PRIu64 "-byte aligned", name, address.value,
            alignment);
        return Error::invalid(message);
    }
    if (!memory.contains(address, length)) {
        std::snprintf(message, sizeof message,
            "virtqueue: %s at 0x%" PRIx64 "+0x%" PRIx64 ": outside RAM", name, address.value,
            length);
        return Error::invalid(message);
    }
    return {};
}

Error chain_error(uint16_t head, const char* cause)
{
    char message[128];
    std::snprintf(message, sizeof message, "virtqueue: chain at head %u: %s", head, cause);
    return Error::invalid(message);
}

} // namespace

Result<std::vector<uint8_t>> DescriptorChain::read_all(
    const GuestMemory& memory, uint64_t max_length) const
{
    std::vector<uint8_t> bytes(std::min(m_readable_length, max_length));
    uint64_t copied = 0;
    for (const auto& segment : m_readable) {
        if (copied == bytes.size())
            break;
        uint64_t length = std::min<uint64_t>(segment.length, bytes.size() - copied);
        TRY(memory.read(segment.address, std::span(bytes).subspan(copied, length)));
        copied += length;
    }
    return bytes;
}

Result<void> DescriptorChain::write_at(
    GuestMemory& memory, uint64_t offset, std::span<const uint8_t> bytes) const
{
    if (bytes.size() > m_writable_length || offset > m_writable_length - bytes.size())
        return Error::invalid("virtqueue: write past the end of the chain's writable buffers");

    for (const auto& segment : m_writable) {
        if (bytes.empty())
            break;
        if (offset >= segment.length) {
            offset -= segment.length;
            continue;
        }
        uint64_t length = std::min<uint64_t>(segment.length - offset, bytes.size());
        TRY(memory.write(segment.address + offset, bytes.first(length)));
        bytes = bytes.subspan(length);
        offset = 0;
    }
    return {};
}

Result<void> Queue::validate(
    const GuestMemory& memory, const QueueConfig& config, uint16_t max_size)
{
    TRY(validate_size(config.size, max_size));
    TRY(validate_area(memory, config, QueueArea::DescriptorTable));
    TRY(validate_area(memory, config, QueueArea::AvailRing));
    TRY(validate_area(memory, config, QueueArea::UsedRing));
    return {};
}

Result<void> Queue::validate_size(uint16_t size, uint16_t max_size)
{
    char message[96];
    if (size == 0 || !std::has_single_bit(size)) {
        std::snprintf(
            message, sizeof message, "virtqueue: size %u: not a power of two", unsigned{size});
        return Error::invalid(message);
    }
    if (size > max_size) {
        std::snprintf(message, sizeof message, "virtqueue: size %u: larger than the maximum %u",
            unsigned{size}, unsigned{max_size});
        return Error::invalid(message);
    }
    return {};
}

Result<void> Queue::validate_area(
    const GuestMemory& memory, const QueueConfig& config, QueueArea area)
{
    switch (area) {
    case QueueArea::DescriptorTable:
        return check_area(memory, "descriptor table", config.descriptor_table,
            uint64_t{config.size} * sizeof(RingDescriptor), 16);
    case QueueArea::AvailRing:
        return check_area(
            memory, "avail ring", config.avail_ring, avail_ring_bytes(config.size), 2);
    case QueueArea::UsedRing:
        return check_area(memory, "used ring", config.used_ring, used_ring_bytes(config.size), 4);
    }
    return Error::invalid("virtqueue: unknown ring area");
}

Result<void> Queue::check_position(
    const GuestMemory& memory, const QueueConfig& config, QueuePosition position)
{
    char message[128];
    uint16_t used_index = TRY(memory.load_u16_acquire(config.used_ring + kRingIndexOffset));
    if (used_index != position.next_used) {
        std::snprintf(message, sizeof message,
            "virtqueue: used index in guest memory is %u, expected %u", used_index,
            position.next_used);
        return Error::invalid(message);
    }
    return {};
}

Result<Queue> Queue::create(
    GuestMemory& memory, const QueueConfig& config, uint16_t max_size, uint32_t max_chain_length)
{
    TRY(validate(memory, config, std::min(max_size, kMaxQueueSize)));
    return Queue(memory, config, max_chain_length);
}

Result<Queue> Queue::restore(GuestMemory& memory, const QueueConfig& config, uint16_t max_size,
    uint32_t max_chain_length, QueuePosition position)
{
    auto queue = TRY(create(memory, config, max_size, max_chain_length));
    TRY(check_position(memory, config, position));
    queue.m_next_avail = position.next_avail;
    queue.m_next_used = position.next_used;
    return queue;
}

Result<uint16_t> Queue::avail_index() const
{
    return m_memory->load_u16_acquire(m_config.avail_ring + kRingIndexOffset);
}

Result<std::optional<DescriptorChain>> Queue::pop()
{
    if (m_broken)
        return Error::guest("virtqueue: broken by earlier malformed input until device reset");
    auto chain = pop_unchecked();
    if (!chain)
        return broken_error(chain.release_error());
    return chain;
}

Error Queue::broken_error(Error error)
{
    m_broken = true;
    return error;
}

Result<std::optional<DescriptorChain>> Queue::pop_unchecked()
{
    // Acquire pairs with the driver's release of idx, so the ring entry and
    // the descriptors it names are visible before we read them.
    uint16_t avail_index = TRY(m_memory->load_u16_acquire(m_config.avail_ring + kRingIndexOffset));
    auto pending = static_cast<uint16_t>(avail_index - m_next_avail);
    if (pending == 0)
        return std::optional<DescriptorChain>();
    if (pending > m_config.size) {
        char message[128];
        std::snprintf(message, sizeof message,
            "virtqueue: avail index %u: %u entries ahead, queue size is %u", avail_index, pending,
            m_config.size);
        return Error::invalid(message);
    }

    uint16_t slot = m_next_avail & (m_config.size - 1);
    auto head = TRY(m_memory->read_object<uint16_t>(
        m_config.avail_ring + kRingEntriesOffset + 2 * uint64_t{slot}));
    if (head >= m_config.size)
        return chain_error(head, "head index out of range");

    auto chain = TRY(walk_chain(head));
    m_next_avail++;
    return std::optional<DescriptorChain>(std::move(chain));
}

Result<DescriptorChain> Queue::walk_chain(uint16_t head) const
{
    DescriptorChain chain;
    chain.m_head = head;
    uint16_t index = head;

    // Each descriptor may appear once, so a chain longer than the queue
    // must revisit one: that bound is the loop's TTL.
    for (uint32_t visited = 0; visited < m_config.size; visited++) {
        auto descriptor = TRY(m_memory->read_object<RingDescriptor>(
            m_config.descriptor_table + uint64_t{index} * sizeof(RingDescriptor)));
        if (descriptor.flags & kDescriptorIndirect)
            return chain_error(head, "indirect descriptor without VIRTIO_F_INDIRECT_DESC");

        BufferSegment segment{GuestAddress(descriptor.address), descriptor.length};
        if (!m_memory->contains(segment.address, segment.length))
            return chain_error(head, "buffer outside RAM");
        if (descriptor.flags & kDescriptorWrite) {
            chain.m_writable.push_back(segment);
            chain.m_writable_length += segment.length;
        } else {
            if (!chain.m_writable.empty())
                return chain_error(head, "readable buffer after a writable one");
            chain.m_readable.push_back(segment);
            chain.m_readable_length += segment.length;
        }
        if (chain.m_readable_length + chain.m_writable_length > m_max_chain_length)
            return chain_error(head, "longer than the device allows");

        if (!(descriptor.flags & kDescriptorNext))
            return chain;
        if (descriptor.next >= m_config.size)
            return chain_error(head, "next index out of range");
        index = descriptor.next;
    }
    return chain_error(head, "more descriptors than the queue holds (a loop)");
}

Result<void> Queue::add_used(uint16_t head, uint32_t written_length)
{
    if (head >= m_config.size)
        return Error::invalid("virtqueue: used head index out of range");

    uint16_t slot = m_next_used & (m_config.size - 1);
    UsedElement element{head, written_length};
    TRY(m_memory->write_object(
        m_config.used_ring + kRingEntriesOffset + sizeof(UsedElement) * uint64_t{slot}, element));

    // Release orders the element and the buffer contents before the index
    // the driver polls.
    m_next_used++;
    TRY(m_memory->store_u16_release(m_config.used_ring + kRingIndexOffset, m_next_used));
    return {};
}

} // namespace spore
