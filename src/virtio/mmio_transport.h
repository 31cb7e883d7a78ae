#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <vector>

#include "common/error.h"
#include "common/log.h"
#include "memory/guest_memory.h"
#include "virtio/virtio_device.h"
#include "vmm/mmio_device.h"

namespace spore {

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

    ~VirtioMmioTransport() override;
    VirtioMmioTransport(const VirtioMmioTransport&) = delete;
    VirtioMmioTransport& operator=(const VirtioMmioTransport&) = delete;

    // Register or configuration read from a vCPU.
    void mmio_read(uint64_t offset, std::span<uint8_t> data) override;
    // Register or configuration write from a vCPU.
    void mmio_write(uint64_t offset, std::span<const uint8_t> data) override;

    // The wrapped device, for host-side calls such as vsock connections.
    VirtioDevice& device() { return *m_device; }

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

    std::mutex m_interrupt_mutex;
    uint32_t m_interrupt_status = 0;
    bool m_line_asserted = false;

    // Last, so it is destroyed first: a device thread may still signal
    // through the members above until the device has stopped.
    std::unique_ptr<VirtioDevice> m_device;
};

} // namespace spore
