#include "virtio/testing/guest_driver.h"

#include <cstdio>
#include <cstdlib>

namespace spore::testing {

namespace {

constexpr uint64_t kRingStride = 64 * 1024;
constexpr uint64_t kBuffersOffset = 1 << 20;

GuestMemory map_or_abort(uint64_t size)
{
    auto memory = GuestMemory::create(GuestDriver::kRamBase, size);
    if (!memory) {
        std::fprintf(stderr, "guest driver: %s\n", memory.error().message().c_str());
        std::abort();
    }
    return std::move(memory).value();
}

} // namespace

GuestDriver::GuestDriver(uint16_t queue_count, uint16_t queue_size, uint64_t ram_size)
    : m_memory(map_or_abort(ram_size))
    , m_queue_count(queue_count)
    , m_queue_size(queue_size)
{
    if (queue_count == 0 || DriverQueue::ring_bytes(queue_size) > kRingStride
        || kRingStride * queue_count > kBuffersOffset || ram_size <= kBuffersOffset) {
        std::fprintf(stderr, "guest driver: layout does not fit\n");
        std::abort();
    }
    reset_queues();
}

void GuestDriver::reset_queues()
{
    m_queues.clear();
    uint64_t buffer_share = (m_memory.size() - kBuffersOffset) / m_queue_count;
    for (uint16_t index = 0; index < m_queue_count; index++) {
        m_queues.push_back(std::make_unique<DriverQueue>(m_memory, kRamBase + kRingStride * index,
            m_queue_size, kRamBase + (kBuffersOffset + buffer_share * index), buffer_share));
    }
}

Result<void> GuestDriver::activate(VirtioDevice& device, uint64_t driver_features)
{
    auto info = device.info();
    std::vector<Queue> queues;
    for (auto& driver_queue : m_queues) {
        queues.push_back(TRY(Queue::create(
            m_memory, driver_queue->config(), info.max_queue_size, info.max_chain_length)));
    }
    return device.activate(VirtioActivation{
        .memory = m_memory,
        .queues = std::move(queues),
        .driver_features = driver_features,
        .signal_used_buffer = [this] { m_interrupts++; },
    });
}

} // namespace spore::testing
