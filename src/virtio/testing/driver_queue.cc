#include "virtio/testing/driver_queue.h"

#include <cstdio>
#include <cstdlib>
#include <thread>

namespace spore::testing {

namespace {

constexpr uint64_t kBufferAlignment = 16;

struct UsedElement {
    uint32_t id;
    uint32_t length;
};

uint64_t align_up(uint64_t value, uint64_t alignment)
{
    return (value + alignment - 1) / alignment * alignment;
}

[[noreturn]] void fail(const char* what)
{
    std::fprintf(stderr, "driver queue: %s\n", what);
    std::abort();
}

template <typename T> T checked(Result<T> result)
{
    if (!result)
        fail(result.error().message().c_str());
    return std::move(result).value();
}

void checked(Result<void> result)
{
    if (!result)
        fail(result.error().message().c_str());
}

} // namespace

DriverQueue::DriverQueue(GuestMemory& memory, GuestAddress ring_base, uint16_t size,
    GuestAddress buffer_base, uint64_t buffer_capacity)
    : m_memory(memory)
    , m_buffer_base(buffer_base)
    , m_buffer_capacity(buffer_capacity)
{
    uint64_t avail_offset = 16 * uint64_t{size};
    uint64_t used_offset = align_up(avail_offset + 6 + 2 * uint64_t{size}, 16);
    m_config = QueueConfig{size, ring_base, ring_base + avail_offset, ring_base + used_offset};
    checked(m_memory.fill(ring_base, 0, ring_bytes(size)));

    // Linux hands out descriptors from the front of its free list.
    for (uint32_t index = size; index > 0; index--)
        m_free.push_back(static_cast<uint16_t>(index - 1));
}

uint64_t DriverQueue::ring_bytes(uint16_t size)
{
    uint64_t avail_offset = 16 * uint64_t{size};
    return align_up(avail_offset + 6 + 2 * uint64_t{size}, 16) + 6 + 8 * uint64_t{size};
}

GuestAddress DriverQueue::allocate_buffer(uint64_t length)
{
    if (length > m_buffer_capacity)
        fail("buffer larger than the buffer area");
    if (m_buffer_next + length > m_buffer_capacity)
        m_buffer_next = 0;
    GuestAddress address = m_buffer_base + m_buffer_next;
    m_buffer_next = align_up(m_buffer_next + length, kBufferAlignment);
    return address;
}

uint16_t DriverQueue::take_descriptor()
{
    if (m_free.empty())
        fail("out of descriptors");
    uint16_t index = m_free.back();
    m_free.pop_back();
    return index;
}

uint16_t DriverQueue::offer(
    const std::vector<std::vector<uint8_t>>& readable, const std::vector<uint32_t>& writable_sizes)
{
    size_t count = readable.size() + writable_sizes.size();
    if (count == 0 || count > m_free.size())
        fail("chain needs more descriptors than are free");

    OfferedChain chain;
    for (size_t position = 0; position < count; position++)
        chain.descriptors.push_back(take_descriptor());

    for (size_t position = 0; position < count; position++) {
        bool is_writable = position >= readable.size();
        uint64_t length
            = is_writable ? writable_sizes[position - readable.size()] : readable[position].size();
        GuestAddress address = allocate_buffer(length);
        if (is_writable) {
            checked(m_memory.fill(address, 0, length));
            chain.writable.push_back({address, static_cast<uint32_t>(length)});
        } else if (length > 0) {
            checked(m_memory.write(address, readable[position]));
        }

        bool has_next = position + 1 < count;
        write_descriptor(chain.descriptors[position],
            RawDescriptor{address.value, static_cast<uint32_t>(length),
                static_cast<uint16_t>(
                    (has_next ? kDescriptorNext : 0) | (is_writable ? kDescriptorWrite : 0)),
                has_next ? chain.descriptors[position + 1] : uint16_t{0}});
    }

    uint16_t head = chain.descriptors.front();
    m_offered[head] = std::move(chain);
    publish(head);
    return head;
}

void DriverQueue::write_descriptor(uint16_t index, const RawDescriptor& descriptor)
{
    checked(m_memory.write_object(m_config.descriptor_table + 16 * uint64_t{index}, descriptor));
}

void DriverQueue::publish(uint16_t head)
{
    uint16_t slot = m_avail_index & (m_config.size - 1);
    checked(m_memory.write_object(m_config.avail_ring + 4 + 2 * uint64_t{slot}, head));
    set_avail_index(static_cast<uint16_t>(m_avail_index + 1));
}

void DriverQueue::set_avail_index(uint16_t index)
{
    m_avail_index = index;
    checked(m_memory.store_u16_release(m_config.avail_ring + 2, index));
}

std::optional<UsedBuffer> DriverQueue::take_used()
{
    uint16_t used_index = checked(m_memory.load_u16_acquire(m_config.used_ring + 2));
    if (used_index == m_used_seen)
        return std::nullopt;

    uint16_t slot = m_used_seen & (m_config.size - 1);
    auto element
        = checked(m_memory.read_object<UsedElement>(m_config.used_ring + 4 + 8 * uint64_t{slot}));
    m_used_seen++;

    UsedBuffer used{static_cast<uint16_t>(element.id), element.length, {}};
    auto offered = m_offered.find(used.head);
    if (offered == m_offered.end())
        return used;
    uint64_t remaining = element.length;
    for (const auto& segment : offered->second.writable) {
        uint64_t length = std::min<uint64_t>(remaining, segment.length);
        size_t start = used.written.size();
        used.written.resize(start + length);
        checked(m_memory.read(segment.address, std::span(used.written).subspan(start)));
        remaining -= length;
    }
    for (uint16_t index : offered->second.descriptors)
        m_free.push_back(index);
    m_offered.erase(offered);
    return used;
}

std::optional<UsedBuffer> DriverQueue::wait_used(std::chrono::milliseconds timeout)
{
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        if (auto used = take_used())
            return used;
        if (std::chrono::steady_clock::now() >= deadline)
            return std::nullopt;
        std::this_thread::sleep_for(std::chrono::microseconds(50));
    }
}

} // namespace spore::testing
