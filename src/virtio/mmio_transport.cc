#include "virtio/mmio_transport.h"

#include <algorithm>
#include <bit>
#include <cinttypes>
#include <cstdio>
#include <cstring>

namespace spore {

// Registers are copied as host integers; virtio-mmio is little-endian.
static_assert(std::endian::native == std::endian::little);

namespace {

// Register offsets, virtio 1.2 §4.2.2, table "MMIO Device Register Layout".
constexpr uint64_t kMagicValue = 0x000;
constexpr uint64_t kVersion = 0x004;
constexpr uint64_t kDeviceId = 0x008;
constexpr uint64_t kVendorId = 0x00c;
constexpr uint64_t kDeviceFeatures = 0x010;
constexpr uint64_t kDeviceFeaturesSelect = 0x014;
constexpr uint64_t kDriverFeatures = 0x020;
constexpr uint64_t kDriverFeaturesSelect = 0x024;
constexpr uint64_t kQueueSelect = 0x030;
constexpr uint64_t kQueueSizeMax = 0x034;
constexpr uint64_t kQueueSize = 0x038;
constexpr uint64_t kQueueReady = 0x044;
constexpr uint64_t kQueueNotify = 0x050;
constexpr uint64_t kInterruptStatus = 0x060;
constexpr uint64_t kInterruptAcknowledge = 0x064;
constexpr uint64_t kStatus = 0x070;
constexpr uint64_t kQueueDescriptorLow = 0x080;
constexpr uint64_t kQueueDescriptorHigh = 0x084;
constexpr uint64_t kQueueDriverLow = 0x090;
constexpr uint64_t kQueueDriverHigh = 0x094;
constexpr uint64_t kQueueDeviceLow = 0x0a0;
constexpr uint64_t kQueueDeviceHigh = 0x0a4;
constexpr uint64_t kSharedMemorySelect = 0x0ac;
constexpr uint64_t kSharedMemoryLengthLow = 0x0b0;
constexpr uint64_t kSharedMemoryBaseHigh = 0x0bc;
constexpr uint64_t kConfigGeneration = 0x0fc;
constexpr uint64_t kConfigSpace = 0x100;

constexpr uint32_t kMagic = 0x74726976; // "virt"
constexpr uint32_t kTransportVersion = 2;
constexpr uint32_t kSporeVendorId = 0x53504f52; // "SPOR"

// More queues than any device of ours needs; bounds the register array.
constexpr uint16_t kMaxQueueCount = 16;

constexpr uint64_t kUnsupportedFeatures
    = kVirtioFeatureIndirectDescriptors | kVirtioFeatureEventIndex | kVirtioFeaturePackedRing;

void set_half(uint64_t& value, bool high, uint32_t half)
{
    int shift = high ? 32 : 0;
    value = (value & ~(uint64_t{0xffffffff} << shift)) | (uint64_t{half} << shift);
}

} // namespace

Result<std::unique_ptr<VirtioMmioTransport>> VirtioMmioTransport::create(
    std::unique_ptr<VirtioDevice> device, GuestMemory& memory, InterruptLine& interrupt)
{
    if (!device)
        return Error::invalid("virtio-mmio: no device");
    auto info = device->info();
    char message[128];
    std::snprintf(message, sizeof message, "virtio-mmio: device %u: ", info.device_id);
    std::string prefix(message);

    if (!(info.features & kVirtioFeatureVersion1))
        return Error::invalid(prefix + "does not offer VIRTIO_F_VERSION_1");
    if (info.features & kUnsupportedFeatures)
        return Error::invalid(prefix + "offers a ring feature the queues do not implement");
    if (info.queue_count == 0 || info.queue_count > kMaxQueueCount)
        return Error::invalid(prefix + "queue count out of range");
    if (!std::has_single_bit(info.max_queue_size) || info.max_queue_size > kMaxQueueSize)
        return Error::invalid(prefix + "maximum queue size is not a power of two up to 32768");

    return std::unique_ptr<VirtioMmioTransport>(
        new VirtioMmioTransport(std::move(device), memory, interrupt));
}

VirtioMmioTransport::VirtioMmioTransport(
    std::unique_ptr<VirtioDevice> device, GuestMemory& memory, InterruptLine& interrupt)
    : m_memory(memory)
    , m_interrupt(interrupt)
    , m_info(device->info())
    , m_queues(m_info.queue_count)
    , m_device(std::move(device))
{
}

VirtioMmioTransport::~VirtioMmioTransport()
{
    // Stops device threads while the interrupt state they signal into exists.
    std::lock_guard lock(m_state_mutex);
    m_device->reset();
}

void VirtioMmioTransport::mmio_read(uint64_t offset, std::span<uint8_t> data)
{
    std::fill(data.begin(), data.end(), 0);
    if (offset >= kConfigSpace) {
        if (!config_access_valid(offset, data.size()))
            return;
        std::lock_guard lock(m_state_mutex);
        m_device->read_config(offset - kConfigSpace, data);
        return;
    }
    if (data.size() != 4 || offset % 4 != 0) {
        if (m_access_log.allow())
            log::debug("virtio-mmio", "read ignored: offset 0x%" PRIx64 ", width %zu: not 32-bit",
                offset, data.size());
        return;
    }

    uint32_t value;
    {
        std::lock_guard lock(m_state_mutex);
        value = read_register(offset);
    }
    std::memcpy(data.data(), &value, sizeof value);
}

void VirtioMmioTransport::mmio_write(uint64_t offset, std::span<const uint8_t> data)
{
    if (offset >= kConfigSpace) {
        if (!config_access_valid(offset, data.size()))
            return;
        std::lock_guard lock(m_state_mutex);
        m_device->write_config(offset - kConfigSpace, data);
        return;
    }
    if (data.size() != 4 || offset % 4 != 0) {
        if (m_access_log.allow())
            log::debug("virtio-mmio", "write ignored: offset 0x%" PRIx64 ", width %zu: not 32-bit",
                offset, data.size());
        return;
    }

    uint32_t value;
    std::memcpy(&value, data.data(), sizeof value);
    std::lock_guard lock(m_state_mutex);
    write_register(offset, value);
}

bool VirtioMmioTransport::config_access_valid(uint64_t offset, size_t width)
{
    bool valid = (width == 1 || width == 2 || width == 4 || width == 8) && offset % width == 0
        && offset + width <= kWindowSize;
    if (!valid && m_access_log.allow())
        log::debug(
            "virtio-mmio", "config access ignored: offset 0x%" PRIx64 ", width %zu", offset, width);
    return valid;
}

uint32_t VirtioMmioTransport::read_register(uint64_t offset)
{
    switch (offset) {
    case kMagicValue:
        return kMagic;
    case kVersion:
        return kTransportVersion;
    case kDeviceId:
        return m_info.device_id;
    case kVendorId:
        return kSporeVendorId;
    case kDeviceFeatures:
        return m_device_features_select < 2
            ? static_cast<uint32_t>(m_info.features >> (32 * m_device_features_select))
            : 0;
    case kQueueSizeMax:
        return selected_queue() ? m_info.max_queue_size : 0;
    case kQueueReady:
        return selected_queue() && selected_queue()->ready ? 1 : 0;
    case kInterruptStatus:
        return interrupt_status();
    case kStatus:
        return m_status;
    case kConfigGeneration:
        return 0; // no device changes its configuration after creation
    }
    // No shared memory regions: their lengths and bases read as all ones (§4.2.2).
    if (offset >= kSharedMemoryLengthLow && offset <= kSharedMemoryBaseHigh)
        return 0xffffffff;
    if (m_access_log.allow())
        log::debug(
            "virtio-mmio", "read ignored: offset 0x%" PRIx64 ": not a readable register", offset);
    return 0;
}

void VirtioMmioTransport::write_register(uint64_t offset, uint32_t value)
{
    switch (offset) {
    case kDeviceFeaturesSelect:
        m_device_features_select = value;
        return;
    case kDriverFeaturesSelect:
        m_driver_features_select = value;
        return;
    case kDriverFeatures:
        // Features are frozen once FEATURES_OK was accepted (§3.1.1).
        if (m_driver_features_select < 2 && !(m_status & kVirtioStatusFeaturesOk))
            set_half(m_driver_features, m_driver_features_select == 1, value);
        return;
    case kQueueSelect:
        m_queue_select = value;
        return;
    case kQueueNotify:
        if (m_active && value < m_info.queue_count)
            m_device->queue_notify(static_cast<uint16_t>(value));
        return;
    case kInterruptAcknowledge:
        acknowledge_interrupt(value);
        return;
    case kStatus:
        write_status(value);
        return;
    case kSharedMemorySelect:
        return;
    }
    write_queue_register(offset, value);
}

void VirtioMmioTransport::write_queue_register(uint64_t offset, uint32_t value)
{
    QueueRegisters* queue = selected_queue();
    bool is_queue_register = offset == kQueueSize || offset == kQueueReady
        || (offset >= kQueueDescriptorLow && offset <= kQueueDeviceHigh && offset % 16 < 8);
    if (!queue || !is_queue_register || m_active) {
        if (m_driver_log.allow())
            log::debug("virtio-mmio", "write ignored: offset 0x%" PRIx64 ", queue %u", offset,
                m_queue_select);
        return;
    }
    if (offset == kQueueReady) {
        write_queue_ready(*queue, value);
        return;
    }
    // The layout may only change while the queue is not live (§4.2.3.2).
    if (queue->ready)
        return;

    switch (offset) {
    case kQueueSize:
        queue->size = value;
        return;
    case kQueueDescriptorLow:
    case kQueueDescriptorHigh:
        set_half(queue->descriptor_table, offset == kQueueDescriptorHigh, value);
        return;
    case kQueueDriverLow:
    case kQueueDriverHigh:
        set_half(queue->avail_ring, offset == kQueueDriverHigh, value);
        return;
    case kQueueDeviceLow:
    case kQueueDeviceHigh:
        set_half(queue->used_ring, offset == kQueueDeviceHigh, value);
        return;
    }
}

void VirtioMmioTransport::write_queue_ready(QueueRegisters& queue, uint32_t value)
{
    if (value == 0) {
        queue.ready = false;
        return;
    }
    // Checking here rather than only at DRIVER_OK lets the driver see the
    // refusal by reading QueueReady back.
    auto valid = Queue::validate(m_memory, queue_config(queue), m_info.max_queue_size);
    if (!valid) {
        if (m_driver_log.allow())
            log::debug("virtio-mmio", "queue %u not made ready: %s", m_queue_select,
                valid.error().message().c_str());
        return;
    }
    queue.ready = true;
}

void VirtioMmioTransport::write_status(uint32_t value)
{
    if (value == 0) {
        reset_locked();
        return;
    }
    // Only a reset may clear bits (§2.1.1).
    if (m_status & ~value) {
        if (m_driver_log.allow())
            log::debug("virtio-mmio", "status 0x%x ignored: clears bits of 0x%x", value, m_status);
        return;
    }

    uint32_t added = value & ~m_status;
    if ((added & kVirtioStatusFeaturesOk) && !accept_features())
        value &= ~kVirtioStatusFeaturesOk;
    if ((added & kVirtioStatusDriverOk) && !m_active) {
        Result<void> activated = (value & kVirtioStatusFeaturesOk)
            ? activate_device()
            : Error::guest("virtio-mmio: DRIVER_OK before FEATURES_OK");
        if (!activated) {
            if (m_driver_log.allow())
                log::warn("virtio-mmio: device %u not started: %s", m_info.device_id,
                    activated.error().message().c_str());
            value = (value & ~kVirtioStatusDriverOk) | kVirtioStatusDeviceNeedsReset;
        }
    }
    m_status = value;
}

bool VirtioMmioTransport::accept_features()
{
    bool subset = (m_driver_features & ~m_info.features) == 0;
    bool modern = (m_driver_features & kVirtioFeatureVersion1) != 0;
    if ((!subset || !modern) && m_driver_log.allow())
        log::debug("virtio-mmio", "FEATURES_OK refused: features 0x%" PRIx64 ": %s",
            m_driver_features, subset ? "VERSION_1 not accepted" : "not offered by the device");
    return subset && modern;
}

Result<void> VirtioMmioTransport::activate_device()
{
    std::vector<Queue> queues;
    queues.reserve(m_queues.size());
    for (size_t index = 0; index < m_queues.size(); index++) {
        if (!m_queues[index].ready)
            return Error::guest("virtio-mmio: queue " + std::to_string(index) + " not ready");
        queues.push_back(TRY(Queue::create(m_memory, queue_config(m_queues[index]),
            m_info.max_queue_size, m_info.max_chain_length)));
    }

    TRY(m_device->activate(VirtioActivation{
        .memory = m_memory,
        .queues = std::move(queues),
        .driver_features = m_driver_features,
        .signal_used_buffer = [this] { raise_interrupt(kVirtioInterruptUsedBuffer); },
    }));
    m_active = true;
    return {};
}

void VirtioMmioTransport::reset_locked()
{
    m_device->reset();
    m_status = 0;
    m_device_features_select = 0;
    m_driver_features_select = 0;
    m_driver_features = 0;
    m_queue_select = 0;
    std::fill(m_queues.begin(), m_queues.end(), QueueRegisters{});
    m_active = false;

    std::lock_guard lock(m_interrupt_mutex);
    m_interrupt_status = 0;
    if (m_line_asserted) {
        m_interrupt.set_level(false);
        m_line_asserted = false;
    }
}

VirtioMmioTransport::QueueRegisters* VirtioMmioTransport::selected_queue()
{
    return m_queue_select < m_queues.size() ? &m_queues[m_queue_select] : nullptr;
}

QueueConfig VirtioMmioTransport::queue_config(const QueueRegisters& queue) const
{
    // A size beyond 16 bits becomes 0xffff, which validation rejects as
    // not a power of two.
    return QueueConfig{
        .size = static_cast<uint16_t>(std::min<uint32_t>(queue.size, 0xffff)),
        .descriptor_table = GuestAddress(queue.descriptor_table),
        .avail_ring = GuestAddress(queue.avail_ring),
        .used_ring = GuestAddress(queue.used_ring),
    };
}

void VirtioMmioTransport::raise_interrupt(uint32_t bits)
{
    std::lock_guard lock(m_interrupt_mutex);
    m_interrupt_status |= bits;
    if (!m_line_asserted) {
        m_interrupt.set_level(true);
        m_line_asserted = true;
    }
}

void VirtioMmioTransport::acknowledge_interrupt(uint32_t bits)
{
    std::lock_guard lock(m_interrupt_mutex);
    m_interrupt_status &= ~bits;
    if (m_interrupt_status == 0 && m_line_asserted) {
        m_interrupt.set_level(false);
        m_line_asserted = false;
    }
}

uint32_t VirtioMmioTransport::interrupt_status()
{
    std::lock_guard lock(m_interrupt_mutex);
    return m_interrupt_status;
}

} // namespace spore
