#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

#include "memory/guest_memory.h"
#include "virtio/testing/driver_queue.h"
#include "virtio/virtio_device.h"
#include "vmm/mmio_device.h"

namespace spore::testing {

// A guest with its own RAM and one DriverQueue per device queue, to drive a
// device directly, without a transport. Queue i's rings sit at
// kRamBase + i * 64 KiB; buffers share the RAM above 1 MiB.
class GuestDriver {
public:
    static constexpr GuestAddress kRamBase{0x4000'0000};

    // Aborts if RAM cannot be mapped: a test cannot go on without it.
    GuestDriver(uint16_t queue_count, uint16_t queue_size, uint64_t ram_size = 16 << 20);

    // Hands the device its queues, as a transport does at DRIVER_OK.
    Result<void> activate(VirtioDevice& device, uint64_t driver_features = kVirtioFeatureVersion1);

    // Lays the rings out afresh, as a driver does after resetting the device.
    void reset_queues();

    // Brings a virtio-mmio transport's device up through its registers, in
    // the order Linux probes, on this driver's queues. False if the device
    // did not take DRIVER_OK.
    bool probe(MmioDevice& transport, uint64_t driver_features = kVirtioFeatureVersion1);
    // Writes index to the transport's QueueNotify register.
    void notify(MmioDevice& transport, uint16_t index);

    // The driver side of queue index.
    DriverQueue& queue(uint16_t index) { return *m_queues.at(index); }
    // The guest's RAM.
    GuestMemory& memory() { return m_memory; }
    // Used-buffer interrupts the device raised so far.
    uint64_t interrupts() const { return m_interrupts.load(); }

private:
    GuestMemory m_memory;
    uint16_t m_queue_count;
    uint16_t m_queue_size;
    std::vector<std::unique_ptr<DriverQueue>> m_queues;
    std::atomic<uint64_t> m_interrupts{0};
};

} // namespace spore::testing
