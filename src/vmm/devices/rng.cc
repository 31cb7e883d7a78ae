#include "vmm/devices/rng.h"

#include <sys/random.h>

#include <algorithm>
#include <cerrno>

#include "virtio/field_reader.h"

namespace spore {

namespace {

constexpr uint32_t kRngDeviceId = 4;

// getrandom(2) may return fewer bytes than asked or be interrupted; loop
// until the buffer is full.
Result<void> fill_random(std::span<uint8_t> buffer)
{
    while (!buffer.empty()) {
        ssize_t got = getrandom(buffer.data(), buffer.size(), 0);
        if (got < 0) {
            if (errno == EINTR)
                continue;
            return Error::from_errno("virtio-rng: getrandom");
        }
        buffer = buffer.subspan(static_cast<size_t>(got));
    }
    return {};
}

} // namespace

Result<std::unique_ptr<RngDevice>> RngDevice::create()
{
    return std::unique_ptr<RngDevice>(new RngDevice());
}

VirtioDeviceInfo RngDevice::info() const
{
    return {.device_id = kRngDeviceId,
        .features = kVirtioFeatureVersion1,
        .queue_count = 1,
        .max_queue_size = 256};
}

void RngDevice::read_config(uint64_t, std::span<uint8_t> data) const
{
    std::fill(data.begin(), data.end(), 0);
}

void RngDevice::write_config(uint64_t, std::span<const uint8_t>)
{
}

Result<void> RngDevice::activate(VirtioActivation activation)
{
    if (activation.queues.size() != 1)
        return Error::invalid("virtio-rng: wrong number of queues");
    m_memory = &activation.memory;
    m_queues = std::move(activation.queues);
    m_signal_used_buffer = std::move(activation.signal_used_buffer);
    return {};
}

void RngDevice::queue_notify(uint16_t)
{
    if (!m_queues.empty() && !m_queues.front().broken())
        answer_requests();
}

void RngDevice::answer_requests()
{
    Queue& queue = m_queues.front();
    bool returned_any = false;
    for (;;) {
        auto chain = queue.pop();
        if (!chain) {
            if (m_broken_log.allow())
                log::warn("virtio-rng: request queue stopped: %s", chain.error().message().c_str());
            break;
        }
        if (!chain->has_value())
            break;

        auto written = answer(**chain);
        if (!written && m_broken_log.allow())
            log::warn("%s", written.error().message().c_str());
        if (!queue.add_used((*chain)->head(), written ? *written : 0))
            break;
        returned_any = true;
    }
    if (returned_any)
        m_signal_used_buffer();
}

Result<uint32_t> RngDevice::answer(const DescriptorChain& chain)
{
    auto length
        = static_cast<uint32_t>(std::min<uint64_t>(chain.writable_length(), kMaxBytesPerRequest));
    m_entropy.resize(length);
    TRY(fill_random(m_entropy));
    TRY(chain.write_at(*m_memory, 0, m_entropy));
    return length;
}

void RngDevice::reset()
{
    m_queues.clear();
    m_memory = nullptr;
    m_signal_used_buffer = nullptr;
}

Result<void> RngDevice::quiesce()
{
    return {};
}

Result<void> RngDevice::resume()
{
    return {};
}

std::vector<QueuePosition> RngDevice::queue_positions() const
{
    return positions_of(m_queues);
}

Result<NamedValues> RngDevice::save_state() const
{
    return NamedValues{};
}

Result<void> RngDevice::restore_state(const NamedValues& values)
{
    FieldReader fields(values, "device field");
    return fields.finish();
}

} // namespace spore
