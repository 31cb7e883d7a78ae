#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string_view>
#include <vector>

#include "common/log.h"
#include "virtio/virtio_device.h"

namespace spore {

// virtio-console (device id 3) with a single port and no multiport, size or
// emergency-write features (virtio 1.2 §5.3). Guest output on the transmit
// queue goes to a sink; the receive queue is never filled, since console
// input is not supported.
//
// The sink runs on the vCPU thread that notified the transmit queue, with
// the transport's lock held: it must not block for long or call back into
// the machine.
class ConsoleDevice final : public VirtioDevice {
public:
    // Receives guest output, in the chunks the guest driver sent.
    using Sink = std::function<void(std::string_view)>;

    // A console whose output goes to sink, which must not be empty.
    static Result<std::unique_ptr<ConsoleDevice>> create(Sink sink);

    // Device id, features and the two queues.
    VirtioDeviceInfo info() const override;
    // Reads the all-zero configuration (cols, rows, max_nr_ports, emerg_wr).
    void read_config(uint64_t offset, std::span<uint8_t> data) const override;
    // Ignores writes: emerg_wr needs VIRTIO_CONSOLE_F_EMERG_WRITE, not offered.
    void write_config(uint64_t offset, std::span<const uint8_t> data) override;
    // Takes the queues; transmit buffers are drained on each notify.
    Result<void> activate(VirtioActivation activation) override;
    // Drains the transmit queue into the sink.
    void queue_notify(uint16_t queue_index) override;
    // Drops the queues.
    void reset() override;

    // Nothing to wait for: transmit chains are drained and returned within
    // the notify that offered them, and receive chains are never popped.
    Result<void> quiesce() override;
    // Nothing to restart: there is no thread.
    Result<void> resume() override;
    // The positions of the receive and transmit queues.
    std::vector<QueuePosition> queue_positions() const override;
    // No fields: the console keeps nothing besides its queues.
    Result<NamedValues> save_state() const override;
    // Accepts only the empty field set save_state() writes.
    Result<void> restore_state(const NamedValues& values) override;

private:
    explicit ConsoleDevice(Sink sink)
        : m_sink(std::move(sink))
    {
    }

    void drain_transmit_queue();

    Sink m_sink;
    GuestMemory* m_memory = nullptr;
    std::vector<Queue> m_queues;
    std::function<void()> m_signal_used_buffer;
    RateLimit m_broken_log;
};

} // namespace spore
