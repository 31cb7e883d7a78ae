// Fuzzes the split virtqueue: the input becomes the queue layout and the
// contents of guest RAM, and every chain the queue accepts is read, written
// and returned. ASan catches any access outside RAM.

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "virtio/queue.h"

namespace {

using spore::GuestAddress;
using spore::GuestMemory;

// A small RAM above a nonzero base, so that addresses below RAM exist too.
constexpr GuestAddress kRamBase{0x10000};
constexpr uint64_t kRamSize = 16 * 1024;
constexpr uint16_t kMaxQueueSize = 256;

struct Header {
    uint16_t size;
    uint16_t descriptor_offset;
    uint16_t avail_offset;
    uint16_t used_offset;
    uint16_t max_chain_length;
    uint16_t write_offset;
};

GuestMemory& ram()
{
    static GuestMemory* memory = [] {
        auto created = GuestMemory::create(kRamBase, kRamSize);
        if (!created) {
            std::fprintf(stderr, "%s\n", created.error().message().c_str());
            std::abort();
        }
        return new GuestMemory(std::move(created).value());
    }();
    return *memory;
}

// Offsets reach a little past RAM so that ring range checks are exercised.
GuestAddress ring_address(uint16_t offset)
{
    return kRamBase + offset % (kRamSize + 512);
}

void use_chain(GuestMemory& memory, spore::Queue& queue, const spore::DescriptorChain& chain,
    uint16_t write_offset)
{
    auto bytes = chain.read_all(memory, 64 * 1024);
    if (!bytes)
        std::abort(); // a validated chain must always be readable
    std::vector<uint8_t> reply(write_offset % 64, 0xa5);
    (void)chain.write_at(memory, write_offset % 128, reply);
    (void)queue.add_used(chain.head(), static_cast<uint32_t>(chain.writable_length()));
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    Header header;
    if (size < sizeof header)
        return 0;
    std::memcpy(&header, data, sizeof header);
    data += sizeof header;
    size -= sizeof header;

    GuestMemory& memory = ram();
    (void)memory.fill(kRamBase, 0, kRamSize);
    (void)memory.write(kRamBase, std::span(data, std::min<size_t>(size, kRamSize)));

    spore::QueueConfig config{header.size, ring_address(header.descriptor_offset),
        ring_address(header.avail_offset), ring_address(header.used_offset)};
    auto queue = spore::Queue::create(memory, config, kMaxQueueSize, header.max_chain_length * 64u);
    if (!queue)
        return 0;

    // The avail index check bounds pops by the queue size; the loop bound
    // only guards against a bug there turning into a hang.
    for (int pops = 0; pops <= kMaxQueueSize; pops++) {
        auto chain = queue->pop();
        if (!chain || !chain->has_value())
            break;
        use_chain(memory, *queue, **chain, header.write_offset);
    }
    return 0;
}
