#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <functional>
#include <span>
#include <vector>

#include "common/error.h"
#include "memory/guest_memory.h"
#include "spore/manifest.h"
#include "virtio/queue.h"

namespace spore {

// Feature bits from virtio 1.2 §6. Every device offers VERSION_1; none may
// offer the ring features, which Queue does not implement.
inline constexpr uint64_t kVirtioFeatureIndirectDescriptors = uint64_t{1} << 28;
inline constexpr uint64_t kVirtioFeatureEventIndex = uint64_t{1} << 29;
inline constexpr uint64_t kVirtioFeatureVersion1 = uint64_t{1} << 32;
inline constexpr uint64_t kVirtioFeaturePackedRing = uint64_t{1} << 34;

// What a transport needs to know about a device before a driver binds.
struct VirtioDeviceInfo {
    uint32_t device_id = 0;
    uint64_t features = kVirtioFeatureVersion1; // offered to the driver
    uint16_t queue_count = 0;
    uint16_t max_queue_size = 256; // a power of two, at most kMaxQueueSize
    uint32_t max_chain_length = kDefaultMaxChainLength; // bytes per descriptor chain
};

// What a device receives when the driver sets DRIVER_OK.
struct VirtioActivation {
    GuestMemory& memory;
    std::vector<Queue> queues; // validated, one per queue in index order
    uint64_t driver_features = 0; // a subset of the offered features
    // Raises the used-buffer interrupt. Callable from any thread; it never
    // calls back into the device.
    std::function<void()> signal_used_buffer;
    // True when the queues continue a driver session restored from a spore
    // (they start from saved positions, not from zero). The driver does not
    // know the device behind the queues changed.
    bool restored = false;
};

// A virtio device model, driven by a transport.
//
// The transport serializes every call below, so devices without threads of
// their own need no locking. activate() and reset() alternate: reset() may
// also come without activate(), and must leave no thread running and no
// pointer to guest memory or to the transport behind.
class VirtioDevice {
public:
    virtual ~VirtioDevice() = default;

    // Identity, offered features and queue limits; constant for the device's life.
    virtual VirtioDeviceInfo info() const = 0;

    // Reads device-specific configuration space (virtio 1.2 §4.2.2, offset 0x100).
    virtual void read_config(uint64_t offset, std::span<uint8_t> data) const = 0;
    // Writes device-specific configuration space.
    virtual void write_config(uint64_t offset, std::span<const uint8_t> data) = 0;

    // Starts the device once the driver has set DRIVER_OK. On error the
    // transport reports DEVICE_NEEDS_RESET to the driver.
    virtual Result<void> activate(VirtioActivation activation) = 0;

    // The driver added buffers to queue queue_index (always < queue_count).
    virtual void queue_notify(uint16_t queue_index) = 0;

    // Returns to the state before activate(): drops queues and all I/O.
    virtual void reset() = 0;

    // Snapshot hooks. None has a default: each device states what quiet
    // means for it and what it saves, even when the answer is "nothing".

    // Reaches a state with nothing in flight, called once every vCPU is
    // parked: every chain popped is back in the used ring, no packet is half
    // delivered, and no device thread touches guest memory until resume()
    // or destruction. Also valid before activation. On error the device
    // keeps running as before and the error says why it could not stop.
    virtual Result<void> quiesce() = 0;

    // Runs again after quiesce(), with the same queues: the VM goes on
    // after a capture.
    virtual Result<void> resume() = 0;

    // Where each queue stands, in queue index order, or nothing before
    // activation. Stable only while quiesced.
    virtual std::vector<QueuePosition> queue_positions() const = 0;

    // Device-internal fields for a spore, formatted with common/hex_value.h;
    // called only while quiesced. Empty for a device with no such state.
    virtual Result<NamedValues> save_state() const = 0;

    // Takes fields written by save_state() into a device fresh from its
    // create(), before the transport activates it with restored queues (if
    // the driver had started it). values come from a manifest on disk:
    // unknown, missing and malformed fields are refused, with errors of the
    // form "device field <name>: <cause>".
    virtual Result<void> restore_state(const NamedValues& values) = 0;
};

// The positions of a device's queues, for queue_positions().
inline std::vector<QueuePosition> positions_of(const std::vector<Queue>& queues)
{
    std::vector<QueuePosition> positions;
    positions.reserve(queues.size());
    for (const auto& queue : queues)
        positions.push_back(queue.position());
    return positions;
}

// Copies the part of a configuration structure that [offset, offset + size)
// covers; bytes past its end read as zero.
inline void copy_config(std::span<const uint8_t> config, uint64_t offset, std::span<uint8_t> data)
{
    std::fill(data.begin(), data.end(), 0);
    if (offset >= config.size())
        return;
    auto available = config.subspan(offset);
    auto length = std::min(available.size(), data.size());
    std::memcpy(data.data(), available.data(), length);
}

} // namespace spore
