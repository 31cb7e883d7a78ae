#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <vector>

#include "memory/guest_memory.h"
#include "virtio/queue.h"

namespace spore::testing {

// Descriptor flags and layout as a driver writes them (virtio 1.2 §2.7.5).
inline constexpr uint16_t kDescriptorNext = 1;
inline constexpr uint16_t kDescriptorWrite = 2;
inline constexpr uint16_t kDescriptorIndirect = 4;

// One descriptor table entry exactly as it sits in guest memory.
struct RawDescriptor {
    uint64_t address = 0;
    uint32_t length = 0;
    uint16_t flags = 0;
    uint16_t next = 0;
};
static_assert(sizeof(RawDescriptor) == 16);

// A chain the device returned, with what it wrote into the writable part.
struct UsedBuffer {
    uint16_t head = 0;
    uint32_t length = 0;
    std::vector<uint8_t> written; // the first min(length, writable size) bytes
};

// Plays the guest driver's side of one split virtqueue in tests and fuzz
// targets: lays out the rings, places buffers and links descriptors the way
// Linux does. One thread drives it; the device may run on others. Misuse
// (running out of descriptors or buffer space) aborts, since it is a bug in
// the test itself.
class DriverQueue {
public:
    // Rings start at ring_base; buffers are carved, wrapping around, from
    // [buffer_base, buffer_base + buffer_capacity).
    DriverQueue(GuestMemory& memory, GuestAddress ring_base, uint16_t size,
        GuestAddress buffer_base, uint64_t buffer_capacity);

    // The layout, as the driver would program it through the transport.
    QueueConfig config() const { return m_config; }
    // Bytes the three rings occupy from ring_base.
    static uint64_t ring_bytes(uint16_t size);

    // Offers a chain of readable buffers holding the given bytes, followed by
    // zeroed writable buffers of the given sizes; returns its head.
    uint16_t offer(const std::vector<std::vector<uint8_t>>& readable,
        const std::vector<uint32_t>& writable_sizes = {});

    // Writes one raw descriptor, bypassing all bookkeeping.
    void write_descriptor(uint16_t index, const RawDescriptor& descriptor);
    // Puts head in the next avail slot and publishes it with a release store.
    void publish(uint16_t head);
    // Sets the avail index the device sees, without touching the ring.
    void set_avail_index(uint16_t index);

    // The next chain the device returned, if any.
    std::optional<UsedBuffer> take_used();
    // Polls take_used until a chain arrives or timeout passes.
    std::optional<UsedBuffer> wait_used(std::chrono::milliseconds timeout);

    // Descriptors not part of an offered chain.
    size_t free_descriptors() const { return m_free.size(); }

private:
    struct OfferedChain {
        std::vector<uint16_t> descriptors;
        std::vector<BufferSegment> writable;
    };

    GuestAddress allocate_buffer(uint64_t length);
    uint16_t take_descriptor();

    GuestMemory& m_memory;
    QueueConfig m_config;
    GuestAddress m_buffer_base;
    uint64_t m_buffer_capacity;
    uint64_t m_buffer_next = 0;
    uint16_t m_avail_index = 0;
    uint16_t m_used_seen = 0;
    std::vector<uint16_t> m_free;
    std::map<uint16_t, OfferedChain> m_offered;
};

} // namespace spore::testing
