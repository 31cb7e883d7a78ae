#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "common/error.h"
#include "memory/guest_memory.h"

namespace spore {

// Bytes one descriptor chain may span unless a device asks for another bound.
inline constexpr uint32_t kDefaultMaxChainLength = 4 * 1024 * 1024;

// Largest queue size the split ring format allows (virtio 1.2 §2.7).
inline constexpr uint16_t kMaxQueueSize = 32768;

// Where the driver placed one split virtqueue, as written through the transport.
struct QueueConfig {
    uint16_t size = 0;
    GuestAddress descriptor_table;
    GuestAddress avail_ring; // the spec's "driver area"
    GuestAddress used_ring; // the spec's "device area"
};

// Where a queue stands in its rings: the next avail ring entry the device
// reads and the next used ring entry it fills. Both are free-running 16-bit
// counters, as the ring indices are.
struct QueuePosition {
    uint16_t next_avail = 0;
    uint16_t next_used = 0;

    bool operator==(const QueuePosition&) const = default;
};

// The three areas of a split queue layout, so that a refusal can name the one at fault.
enum class QueueArea { DescriptorTable, AvailRing, UsedRing };

// One guest buffer of a descriptor chain; already checked to lie inside RAM.
struct BufferSegment {
    GuestAddress address;
    uint32_t length = 0;
};

// A descriptor chain popped from a queue and fully validated: every segment
// lies in RAM, readable segments precede writable ones, and the total length
// is bounded. The guest may still change the buffer contents at any time.
class DescriptorChain {
public:
    // Index of the first descriptor, to hand back through Queue::add_used.
    uint16_t head() const { return m_head; }
    // Device-readable segments, in chain order.
    std::span<const BufferSegment> readable() const { return m_readable; }
    // Device-writable segments, in chain order.
    std::span<const BufferSegment> writable() const { return m_writable; }
    // Sum of the readable segment lengths.
    uint64_t readable_length() const { return m_readable_length; }
    // Sum of the writable segment lengths.
    uint64_t writable_length() const { return m_writable_length; }

    // Copies the first min(readable_length(), max_length) readable bytes.
    Result<std::vector<uint8_t>> read_all(const GuestMemory& memory, uint64_t max_length) const;

    // Writes bytes into the writable part, starting offset bytes into it.
    // Fails without writing anything if the writable part is too short.
    Result<void> write_at(
        GuestMemory& memory, uint64_t offset, std::span<const uint8_t> bytes) const;

private:
    friend class Queue;

    uint16_t m_head = 0;
    std::vector<BufferSegment> m_readable;
    std::vector<BufferSegment> m_writable;
    uint64_t m_readable_length = 0;
    uint64_t m_writable_length = 0;
};

// The device side of one split virtqueue (virtio 1.2 §2.7) without
// EVENT_IDX, INDIRECT_DESC or packed layout.
//
// Everything the guest wrote is untrusted: the ring layout is checked once
// at creation, every chain is checked as it is popped, and any malformed
// input marks the queue broken. A broken queue returns an error from every
// later pop; the driver must reset the device to recover.
//
// Not thread-safe: the owning device serializes all calls.
class Queue {
public:
    // Checks the layout against RAM and the size against max_size.
    static Result<void> validate(
        const GuestMemory& memory, const QueueConfig& config, uint16_t max_size);
    // The size part of validate(): a power of two, at most max_size.
    static Result<void> validate_size(uint16_t size, uint16_t max_size);
    // One area of validate(): aligned, and inside RAM for config.size entries.
    static Result<void> validate_area(
        const GuestMemory& memory, const QueueConfig& config, QueueArea area);

    // Checks a saved position against the used ring in guest memory: its
    // index must be the one the device last published, next_used. Only the
    // guest's memory being replaced or scribbled over breaks that. (The avail
    // side is not checked: a driver that ran ahead of its ring broke the
    // queue live, and a restored queue breaks on it the same way.)
    static Result<void> check_position(
        const GuestMemory& memory, const QueueConfig& config, QueuePosition position);

    // A queue over a validated layout; chains longer than max_chain_length
    // bytes are malformed.
    static Result<Queue> create(GuestMemory& memory, const QueueConfig& config, uint16_t max_size,
        uint32_t max_chain_length = kDefaultMaxChainLength);

    // A queue over a validated layout that continues from a saved position
    // which passes check_position(). A queue broken at capture is not
    // broken after restore: it breaks again on the same malformed chain.
    static Result<Queue> restore(GuestMemory& memory, const QueueConfig& config, uint16_t max_size,
        uint32_t max_chain_length, QueuePosition position);

    // Number of descriptors, a power of two.
    uint16_t size() const { return m_config.size; }
    // True once the guest handed us something malformed.
    bool broken() const { return m_broken; }
    // Where the queue stands; next_avail - next_used chains are popped but not returned.
    QueuePosition position() const { return {m_next_avail, m_next_used}; }

    // The avail index the driver last published, read with acquire ordering.
    Result<uint16_t> avail_index() const;

    // The next available chain, or nullopt when the driver has offered none.
    Result<std::optional<DescriptorChain>> pop();

    // Returns a chain to the driver with the number of bytes written into it.
    Result<void> add_used(uint16_t head, uint32_t written_length);

private:
    Queue(GuestMemory& memory, const QueueConfig& config, uint32_t max_chain_length)
        : m_memory(&memory)
        , m_config(config)
        , m_max_chain_length(max_chain_length)
    {
    }

    Result<std::optional<DescriptorChain>> pop_unchecked();
    Result<DescriptorChain> walk_chain(uint16_t head) const;
    Error broken_error(Error error);

    GuestMemory* m_memory;
    QueueConfig m_config;
    uint32_t m_max_chain_length;
    uint16_t m_next_avail = 0;
    uint16_t m_next_used = 0;
    bool m_broken = false;
};

} // namespace spore
