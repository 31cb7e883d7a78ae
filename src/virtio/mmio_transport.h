#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <vector>

#include "common/error.h"
#include "common/log.h"
#include "memory/guest_memory.h"
#include "spore/manifest.h"
#include "virtio/virtio_device.h"
#include "vmm/mmio_device.h"

namespace spore {

class FieldReader;

// Device status bits (virtio 1.2 §2.1).
inline constexpr uint32_t kVirtioStatusAcknowledge = 1;
inline constexpr uint32_t kVirtioStatusDriver = 2;
inline constexpr uint32_t kVirtioStatusDriverOk = 4;
inline constexpr uint32_t kVirtioStatusFeaturesOk = 8;
inline constexpr uint32_t kVirtioStatusDeviceNeedsReset = 64;
inline constexpr uint32_t kVirtioStatusFailed = 128;

// InterruptStatus bits (virtio 1.2 §4.2.2).
inline constexpr uint32_t kVirtioInterruptUsedBuffer = 1;
inline constexpr uint32_t kVirtioInterruptConfigChange = 2;

// The virtio-mmio transport, version 2 (virtio 1.2 §4.2), for one device.
//
// Accesses to registers below 0x100 must be 32-bit and aligned; device
// configuration space from 0x100 takes aligned 8, 16, 32 and 64-bit
// accesses. Anything else reads as zero and is ignored.
//
// The interrupt line is asserted while InterruptStatus is nonzero and
// lowered when the driver acknowledges the last bit.
//
// Snapshots: quiesce() stops the device with nothing in flight, then
// save_state() describes transport and device as named fields, and either
// resume() lets the VM go on or the transport is discarded. restore() builds
// a transport from those fields on the same or another host. Transport
// fields (all formatted with common/hex_value.h; u32 unless marked):
//   status, device_features_select, driver_features_select,
//   driver_features (u64), queue_select, interrupt_status, and for each
//   queue N from 0: queue.N.size, queue.N.ready (0 or 1),
//   queue.N.descriptor_table, queue.N.avail_ring, queue.N.used_ring (u64),
//   queue.N.next_avail, queue.N.next_used (16-bit values, 0 unless the
//   device was started).
// The configuration generation is not saved: it is always zero.
//
// Threading: vCPU threads call mmio_read/mmio_write concurrently, and device
// I/O threads raise used-buffer interrupts. Lock order: m_state_mutex, then
// any lock inside the device, then m_interrupt_mutex. The transport calls
// into the device only with m_state_mutex held; the device calls back only
// through signal_used_buffer, which takes m_interrupt_mutex alone.
class VirtioMmioTransport final : public MmioDevice {
public:
    // Bytes of guest physical address space the transport decodes.
    static constexpr uint64_t kWindowSize = 0x200;

    // Wraps device; memory and interrupt must outlive the transport.
    static Result<std::unique_ptr<VirtioMmioTransport>> create(
        std::unique_ptr<VirtioDevice> device, GuestMemory& memory, InterruptLine& interrupt);

    // Rebuilds a transport saved by save_state() around device, which must
    // be fresh from its create(). Guest memory must already hold the RAM
    // saved with the state. The state is untrusted: unknown, missing or
    // malformed fields, another device id, features the device does not
    // offer, invalid ready queues and used indices that disagree with guest
    // memory are refused with "<slot>: transport field <name>: <cause>". A
    // device the driver had started is activated on queues that continue
    // from their saved positions, and a pending interrupt is asserted again.
    static Result<std::unique_ptr<VirtioMmioTransport>> restore(
        std::unique_ptr<VirtioDevice> device, GuestMemory& memory, InterruptLine& interrupt,
        const DeviceState& state);

    ~VirtioMmioTransport() override;
    VirtioMmioTransport(const VirtioMmioTransport&) = delete;
    VirtioMmioTransport& operator=(const VirtioMmioTransport&) = delete;

    // Register or configuration read from a vCPU.
    void mmio_read(uint64_t offset, std::span<uint8_t> data) override;
    // Register or configuration write from a vCPU.
    void mmio_write(uint64_t offset, std::span<const uint8_t> data) override;

    // The wrapped device, for host-side calls such as vsock connections.
    VirtioDevice& device() { return *m_device; }

    // Brings the device to a state with nothing in flight (see
    // VirtioDevice::quiesce) and checks that every queue has returned all it
    // popped. Call only once every vCPU is parked: register writes are
    // ignored until resume(). On error the device keeps running.
    Result<void> quiesce();

    // Lets a quiesced device run again, for a VM that goes on after capture.
    Result<void> resume();

    // Transport and device fields for a spore's manifest, under the board
    // slot name slot; only between quiesce() and resume().
    Result<DeviceState> save_state(std::string slot);

private:
    // Queue registers as the driver wrote them; checked at QueueReady.
    struct QueueRegisters {
        uint32_t size = 0;
        uint64_t descriptor_table = 0;
        uint64_t avail_ring = 0;
        uint64_t used_ring = 0;
        bool ready = false;
    };

    VirtioMmioTransport(
        std::unique_ptr<VirtioDevice> device, GuestMemory& memory, InterruptLine& interrupt);

    // The helpers below require m_state_mutex.
    uint32_t read_register(uint64_t offset);
    void write_register(uint64_t offset, uint32_t value);
    void write_queue_register(uint64_t offset, uint32_t value);
    void write_queue_ready(QueueRegisters& queue, uint32_t value);
    void write_status(uint32_t value);
    bool accept_features();
    Result<void> activate_device();
    Result<void> start_device(std::vector<Queue> queues, bool restored);
    Result<void> check_quiet_locked();
    Result<void> restore_locked(const DeviceState& state);
    Result<void> check_saved_queue(FieldReader& fields, size_t index, const QueueRegisters& queue,
        QueuePosition position, bool driver_ok) const;
    bool refuse_while_quiesced(uint64_t offset);
    void reset_locked();
    QueueRegisters* selected_queue();
    QueueConfig queue_config(const QueueRegisters& queue) const;
    bool config_access_valid(uint64_t offset, size_t width);

    void raise_interrupt(uint32_t bits);
    void acknowledge_interrupt(uint32_t bits);
    uint32_t interrupt_status();

    GuestMemory& m_memory;
    InterruptLine& m_interrupt;
    VirtioDeviceInfo m_info;
    RateLimit m_access_log;
    RateLimit m_driver_log;

    std::mutex m_state_mutex;
    uint32_t m_status = 0;
    uint32_t m_device_features_select = 0;
    uint32_t m_driver_features_select = 0;
    uint64_t m_driver_features = 0;
    uint32_t m_queue_select = 0;
    std::vector<QueueRegisters> m_queues;
    bool m_active = false;
    bool m_quiesced = false;
    std::vector<QueuePosition> m_quiet_positions; // taken by quiesce() while active

    std::mutex m_interrupt_mutex;
    uint32_t m_interrupt_status = 0;
    bool m_line_asserted = false;

    // Last, so it is destroyed first: a device thread may still signal
    // through the members above until the device has stopped.
    std::unique_ptr<VirtioDevice> m_device;
};

} // namespace spore
