#include "vmm/devices/console.h"

#include <array>

#include "virtio/field_reader.h"

namespace spore {

namespace {

constexpr uint32_t kConsoleDeviceId = 3;
constexpr uint16_t kTransmitQueue = 1;
constexpr uint16_t kQueueCount = 2;

// Linux sends console output in chunks of at most a page; this bound only
// caps what one hostile chain can make us copy.
constexpr uint32_t kMaxChainLength = 64 * 1024;

// struct virtio_console_config: cols, rows, max_nr_ports, emerg_wr.
constexpr size_t kConfigSize = 12;

} // namespace

Result<std::unique_ptr<ConsoleDevice>> ConsoleDevice::create(Sink sink)
{
    if (!sink)
        return Error::invalid("virtio-console: no output sink");
    return std::unique_ptr<ConsoleDevice>(new ConsoleDevice(std::move(sink)));
}

VirtioDeviceInfo ConsoleDevice::info() const
{
    return {.device_id = kConsoleDeviceId,
        .features = kVirtioFeatureVersion1,
        .queue_count = kQueueCount,
        .max_queue_size = 256,
        .max_chain_length = kMaxChainLength};
}

void ConsoleDevice::read_config(uint64_t offset, std::span<uint8_t> data) const
{
    std::array<uint8_t, kConfigSize> config{};
    copy_config(config, offset, data);
}

void ConsoleDevice::write_config(uint64_t, std::span<const uint8_t>)
{
}

Result<void> ConsoleDevice::activate(VirtioActivation activation)
{
    if (activation.queues.size() != kQueueCount)
        return Error::invalid("virtio-console: wrong number of queues");
    m_memory = &activation.memory;
    m_queues = std::move(activation.queues);
    m_signal_used_buffer = std::move(activation.signal_used_buffer);
    return {};
}

void ConsoleDevice::queue_notify(uint16_t queue_index)
{
    // Receive buffers (queue 0) stay with us until reset: there is no input.
    if (queue_index == kTransmitQueue && !m_queues.empty())
        drain_transmit_queue();
}

void ConsoleDevice::drain_transmit_queue()
{
    Queue& queue = m_queues[kTransmitQueue];
    if (queue.broken())
        return;

    bool returned_any = false;
    for (;;) {
        auto chain = queue.pop();
        if (!chain) {
            if (m_broken_log.allow())
                log::warn(
                    "virtio-console: transmit queue stopped: %s", chain.error().message().c_str());
            break;
        }
        if (!chain->has_value())
            break;

        auto bytes = (*chain)->read_all(*m_memory, (*chain)->readable_length());
        if (bytes && !bytes->empty())
            m_sink(std::string_view(reinterpret_cast<const char*>(bytes->data()), bytes->size()));
        if (!queue.add_used((*chain)->head(), 0))
            break;
        returned_any = true;
    }
    if (returned_any)
        m_signal_used_buffer();
}

void ConsoleDevice::reset()
{
    m_queues.clear();
    m_memory = nullptr;
    m_signal_used_buffer = nullptr;
}

Result<void> ConsoleDevice::quiesce()
{
    return {};
}

Result<void> ConsoleDevice::resume()
{
    return {};
}

std::vector<QueuePosition> ConsoleDevice::queue_positions() const
{
    return positions_of(m_queues);
}

Result<NamedValues> ConsoleDevice::save_state() const
{
    return NamedValues{};
}

Result<void> ConsoleDevice::restore_state(const NamedValues& values)
{
    FieldReader fields(values, "device field");
    return fields.finish();
}

} // namespace spore
