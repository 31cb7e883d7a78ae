#include "virtio/testing/guest_driver.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "virtio/mmio_transport.h"

namespace spore::testing {

namespace {

constexpr uint64_t kRingStride = 64 * 1024;
constexpr uint64_t kBuffersOffset = 1 << 20;

// virtio-mmio registers the probe writes (virtio 1.2 §4.2.2).
constexpr uint64_t kDriverFeatures = 0x020;
constexpr uint64_t kDriverFeaturesSelect = 0x024;
constexpr uint64_t kQueueSelect = 0x030;
constexpr uint64_t kQueueSize = 0x038;
constexpr uint64_t kQueueReady = 0x044;
constexpr uint64_t kQueueNotify = 0x050;
constexpr uint64_t kStatus = 0x070;
constexpr uint64_t kQueueDescriptorLow = 0x080;
constexpr uint64_t kQueueDriverLow = 0x090;
constexpr uint64_t kQueueDeviceLow = 0x0a0;

void write_register(MmioDevice& transport, uint64_t offset, uint32_t value)
{
    uint8_t data[4];
    std::memcpy(data, &value, sizeof value);
    transport.mmio_write(offset, data);
}

uint32_t read_register(MmioDevice& transport, uint64_t offset)
{
    uint8_t data[4];
    transport.mmio_read(offset, data);
    uint32_t value;
    std::memcpy(&value, data, sizeof value);
    return value;
}

void write_address(MmioDevice& transport, uint64_t low_offset, GuestAddress address)
{
    write_register(transport, low_offset, static_cast<uint32_t>(address.value));
    write_register(transport, low_offset + 4, static_cast<uint32_t>(address.value >> 32));
}

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

bool GuestDriver::probe(MmioDevice& transport, uint64_t driver_features)
{
    constexpr uint32_t kFeaturesAccepted
        = kVirtioStatusAcknowledge | kVirtioStatusDriver | kVirtioStatusFeaturesOk;
    write_register(transport, kStatus, 0);
    write_register(transport, kStatus, kVirtioStatusAcknowledge | kVirtioStatusDriver);
    for (uint32_t half = 0; half < 2; half++) {
        write_register(transport, kDriverFeaturesSelect, half);
        write_register(
            transport, kDriverFeatures, static_cast<uint32_t>(driver_features >> (32 * half)));
    }
    write_register(transport, kStatus, kFeaturesAccepted);
    for (uint16_t index = 0; index < m_queue_count; index++) {
        auto config = m_queues[index]->config();
        write_register(transport, kQueueSelect, index);
        write_register(transport, kQueueSize, config.size);
        write_address(transport, kQueueDescriptorLow, config.descriptor_table);
        write_address(transport, kQueueDriverLow, config.avail_ring);
        write_address(transport, kQueueDeviceLow, config.used_ring);
        write_register(transport, kQueueReady, 1);
    }
    write_register(transport, kStatus, kFeaturesAccepted | kVirtioStatusDriverOk);
    return read_register(transport, kStatus) & kVirtioStatusDriverOk;
}

void GuestDriver::notify(MmioDevice& transport, uint16_t index)
{
    write_register(transport, kQueueNotify, index);
}

} // namespace spore::testing
