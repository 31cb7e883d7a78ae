#include "virtio/mmio_transport.h"

#include <algorithm>
#include <bit>
#include <cinttypes>
#include <cstdio>
#include <cstring>

#include "common/hex_value.h"
#include "virtio/field_reader.h"

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

constexpr uint32_t kKnownInterruptBits = kVirtioInterruptUsedBuffer | kVirtioInterruptConfigChange;

void set_half(uint64_t& value, bool high, uint32_t half)
{
    int shift = high ? 32 : 0;
    value = (value & ~(uint64_t{0xffffffff} << shift)) | (uint64_t{half} << shift);
}

std::string queue_field(size_t index, const char* name)
{
    return "queue." + std::to_string(index) + "." + name;
}

std::string device_prefix(uint32_t device_id)
{
    return "virtio-mmio: device " + std::to_string(device_id);
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
        if (!refuse_while_quiesced(offset))
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
    if (!refuse_while_quiesced(offset))
        write_register(offset, value);
}

// A write while quiesced would change state that is being saved, or wake a
// device that promised to stay still: the monitor broke the contract of
// parking every vCPU first. Dropping the write keeps the capture honest.
bool VirtioMmioTransport::refuse_while_quiesced(uint64_t offset)
{
    if (!m_quiesced)
        return false;
    if (m_driver_log.allow())
        log::warn("virtio-mmio: device %u: write to offset 0x%" PRIx64 " while quiesced dropped",
            m_info.device_id, offset);
    return true;
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
    return start_device(std::move(queues), false);
}

Result<void> VirtioMmioTransport::start_device(std::vector<Queue> queues, bool restored)
{
    TRY(m_device->activate(VirtioActivation{
        .memory = m_memory,
        .queues = std::move(queues),
        .driver_features = m_driver_features,
        .signal_used_buffer = [this] { raise_interrupt(kVirtioInterruptUsedBuffer); },
        .restored = restored,
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

Result<void> VirtioMmioTransport::quiesce()
{
    std::lock_guard lock(m_state_mutex);
    if (m_quiesced)
        return Error::invalid(device_prefix(m_info.device_id) + ": already quiesced");
    TRY(m_device->quiesce());

    auto quiet = check_quiet_locked();
    if (!quiet) {
        // The capture fails; the VM may still go on, so undo the quiesce.
        auto resumed = m_device->resume();
        if (!resumed)
            log::warn("%s: resuming after a failed quiesce: %s",
                device_prefix(m_info.device_id).c_str(), resumed.error().message().c_str());
        return quiet.release_error();
    }
    m_quiesced = true;
    return {};
}

// A device's word that it is quiet is checked where it can be: a chain
// popped and not returned would be lost by a restore, and a used index that
// disagrees with guest memory would make the spore unrestorable.
Result<void> VirtioMmioTransport::check_quiet_locked()
{
    m_quiet_positions.clear();
    if (!m_active)
        return {};

    auto prefix = device_prefix(m_info.device_id);
    auto positions = m_device->queue_positions();
    if (positions.size() != m_queues.size())
        return Error::invalid(prefix + ": reports " + std::to_string(positions.size())
            + " queue positions for " + std::to_string(m_queues.size()) + " queues");
    for (size_t index = 0; index < positions.size(); index++) {
        auto queue_prefix = prefix + ": queue " + std::to_string(index);
        auto held = static_cast<uint16_t>(positions[index].next_avail - positions[index].next_used);
        if (held != 0)
            return Error::invalid(queue_prefix + ": " + std::to_string(held)
                + " chains still popped and not returned after quiesce");
        TRY_CONTEXT(
            Queue::check_position(m_memory, queue_config(m_queues[index]), positions[index]),
            queue_prefix);
    }
    m_quiet_positions = std::move(positions);
    return {};
}

Result<void> VirtioMmioTransport::resume()
{
    std::lock_guard lock(m_state_mutex);
    if (!m_quiesced)
        return Error::invalid(device_prefix(m_info.device_id) + ": resumed without quiesce");
    TRY(m_device->resume());
    m_quiesced = false;
    m_quiet_positions.clear();
    return {};
}

Result<DeviceState> VirtioMmioTransport::save_state(std::string slot)
{
    std::lock_guard lock(m_state_mutex);
    if (!m_quiesced)
        return Error::invalid(slot + ": state saved without quiesce");

    DeviceState state;
    state.slot = std::move(slot);
    state.device_id = m_info.device_id;
    NamedValues& fields = state.transport;
    fields["status"] = format_hex_u32(m_status);
    fields["device_features_select"] = format_hex_u32(m_device_features_select);
    fields["driver_features_select"] = format_hex_u32(m_driver_features_select);
    fields["driver_features"] = format_hex_u64(m_driver_features);
    fields["queue_select"] = format_hex_u32(m_queue_select);
    fields["interrupt_status"] = format_hex_u32(interrupt_status());
    for (size_t index = 0; index < m_queues.size(); index++) {
        const QueueRegisters& queue = m_queues[index];
        QueuePosition position = m_active ? m_quiet_positions[index] : QueuePosition{};
        fields[queue_field(index, "size")] = format_hex_u32(queue.size);
        fields[queue_field(index, "ready")] = format_hex_u32(queue.ready ? 1 : 0);
        fields[queue_field(index, "descriptor_table")] = format_hex_u64(queue.descriptor_table);
        fields[queue_field(index, "avail_ring")] = format_hex_u64(queue.avail_ring);
        fields[queue_field(index, "used_ring")] = format_hex_u64(queue.used_ring);
        fields[queue_field(index, "next_avail")] = format_hex_u32(position.next_avail);
        fields[queue_field(index, "next_used")] = format_hex_u32(position.next_used);
    }
    state.device = TRY_CONTEXT(m_device->save_state(), state.slot);
    return state;
}

Result<std::unique_ptr<VirtioMmioTransport>> VirtioMmioTransport::restore(
    std::unique_ptr<VirtioDevice> device, GuestMemory& memory, InterruptLine& interrupt,
    const DeviceState& state)
{
    auto transport = TRY_CONTEXT(create(std::move(device), memory, interrupt), state.slot);
    Result<void> restored;
    {
        std::lock_guard lock(transport->m_state_mutex);
        restored = transport->restore_locked(state);
    }
    if (!restored)
        return restored.error().with_context(state.slot);
    return transport;
}

Result<void> VirtioMmioTransport::restore_locked(const DeviceState& state)
{
    if (state.device_id != m_info.device_id)
        return Error::invalid("device id " + std::to_string(state.device_id)
            + " in the spore, but this device is " + std::to_string(m_info.device_id));

    FieldReader fields(state.transport, "transport field");
    uint32_t status = TRY(fields.u32("status"));
    uint32_t device_features_select = TRY(fields.u32("device_features_select"));
    uint32_t driver_features_select = TRY(fields.u32("driver_features_select"));
    uint64_t driver_features = TRY(fields.u64("driver_features"));
    uint32_t queue_select = TRY(fields.u32("queue_select"));
    uint32_t saved_interrupt_status = TRY(fields.u32("interrupt_status"));
    std::vector<QueueRegisters> queues(m_queues.size());
    std::vector<QueuePosition> positions(m_queues.size());
    for (size_t index = 0; index < queues.size(); index++) {
        QueueRegisters& queue = queues[index];
        queue.size = TRY(fields.u32(queue_field(index, "size")));
        queue.ready = TRY(fields.u32(queue_field(index, "ready"), 1)) == 1;
        queue.descriptor_table = TRY(fields.u64(queue_field(index, "descriptor_table")));
        queue.avail_ring = TRY(fields.u64(queue_field(index, "avail_ring")));
        queue.used_ring = TRY(fields.u64(queue_field(index, "used_ring")));
        positions[index].next_avail
            = static_cast<uint16_t>(TRY(fields.u32(queue_field(index, "next_avail"), 0xffff)));
        positions[index].next_used
            = static_cast<uint16_t>(TRY(fields.u32(queue_field(index, "next_used"), 0xffff)));
    }
    // Queues beyond the device's count show up here as unknown fields.
    TRY(fields.finish());

    // Only states the live transport can reach are accepted; see write_status,
    // accept_features and write_queue_ready for where each invariant comes from.
    bool driver_ok = status & kVirtioStatusDriverOk;
    if (driver_ok && !(status & kVirtioStatusFeaturesOk))
        return fields.error("status", format_hex_u32(status) + ": DRIVER_OK without FEATURES_OK");
    if ((status & kVirtioStatusFeaturesOk) && (driver_features & ~m_info.features))
        return fields.error("driver_features",
            format_hex_u64(driver_features) + ": not a subset of the offered features "
                + format_hex_u64(m_info.features));
    if ((status & kVirtioStatusFeaturesOk) && !(driver_features & kVirtioFeatureVersion1))
        return fields.error(
            "driver_features", format_hex_u64(driver_features) + ": VIRTIO_F_VERSION_1 missing");
    if (saved_interrupt_status & ~kKnownInterruptBits)
        return fields.error(
            "interrupt_status", format_hex_u32(saved_interrupt_status) + ": unknown bits");
    for (size_t index = 0; index < queues.size(); index++)
        TRY(check_saved_queue(fields, index, queues[index], positions[index], driver_ok));

    TRY(m_device->restore_state(state.device));

    m_status = status;
    m_device_features_select = device_features_select;
    m_driver_features_select = driver_features_select;
    m_driver_features = driver_features;
    m_queue_select = queue_select;
    m_queues = std::move(queues);
    {
        // Before activation, which may signal and must add to this status
        // rather than be overwritten by it.
        std::lock_guard lock(m_interrupt_mutex);
        m_interrupt_status = saved_interrupt_status;
        if (m_interrupt_status != 0) {
            m_interrupt.set_level(true);
            m_line_asserted = true;
        }
    }
    if (!driver_ok)
        return {};

    std::vector<Queue> live;
    live.reserve(m_queues.size());
    for (size_t index = 0; index < m_queues.size(); index++) {
        live.push_back(TRY(Queue::restore(m_memory, queue_config(m_queues[index]),
            m_info.max_queue_size, m_info.max_chain_length, positions[index])));
    }
    TRY_CONTEXT(start_device(std::move(live), true), "activating the restored device");
    return {};
}

Result<void> VirtioMmioTransport::check_saved_queue(FieldReader& fields, size_t index,
    const QueueRegisters& queue, QueuePosition position, bool driver_ok) const
{
    if (driver_ok && !queue.ready)
        return fields.error(queue_field(index, "ready"), "0 while the device runs (DRIVER_OK)");
    if (!driver_ok && position != QueuePosition{}) {
        bool avail = position.next_avail != 0;
        return fields.error(queue_field(index, avail ? "next_avail" : "next_used"),
            format_hex_u32(avail ? position.next_avail : position.next_used)
                + ": nonzero for a queue the device has not started");
    }

    // A queue that is not ready holds whatever the driver wrote so far.
    if (queue.ready) {
        if (queue.size > m_info.max_queue_size)
            return fields.error(queue_field(index, "size"),
                format_hex_u32(queue.size) + ": larger than the maximum "
                    + std::to_string(m_info.max_queue_size));
        auto config = queue_config(queue);
        if (auto valid = Queue::validate_size(config.size, m_info.max_queue_size); !valid)
            return fields.error(queue_field(index, "size"), valid.error().message());
        const std::pair<QueueArea, const char*> areas[] = {
            {QueueArea::DescriptorTable, "descriptor_table"},
            {QueueArea::AvailRing, "avail_ring"},
            {QueueArea::UsedRing, "used_ring"},
        };
        for (auto [area, name] : areas) {
            if (auto valid = Queue::validate_area(m_memory, config, area); !valid)
                return fields.error(queue_field(index, name), valid.error().message());
        }
    }

    if (driver_ok) {
        // Popped chains are returned by quiesce; the device restored here
        // would know nothing of one still out.
        if (position.next_avail != position.next_used)
            return fields.error(queue_field(index, "next_avail"),
                format_hex_u32(position.next_avail) + ": differs from next_used "
                    + format_hex_u32(position.next_used) + ", chains were in flight");
        if (auto matches = Queue::check_position(m_memory, queue_config(queue), position); !matches)
            return fields.error(queue_field(index, "next_used"), matches.error().message());
    }
    return {};
}

} // namespace spore
