#pragma once

#include <functional>
#include <memory>
#include <vector>

#include "common/log.h"
#include "virtio/virtio_device.h"

namespace spore {

// virtio-rng (device id 4, virtio 1.2 §5.4): one request queue whose
// writable buffers are filled from the host's getrandom(2), at most
// kMaxBytesPerRequest bytes per chain.
class RngDevice final : public VirtioDevice {
public:
    // Bytes returned for one request, however large its buffers.
    static constexpr uint32_t kMaxBytesPerRequest = 64 * 1024;

    // A new entropy device.
    static Result<std::unique_ptr<RngDevice>> create();

    // Device id, features and the request queue.
    VirtioDeviceInfo info() const override;
    // There is no configuration space: reads return zero.
    void read_config(uint64_t offset, std::span<uint8_t> data) const override;
    // There is no configuration space: writes are ignored.
    void write_config(uint64_t offset, std::span<const uint8_t> data) override;
    // Takes the request queue.
    Result<void> activate(VirtioActivation activation) override;
    // Answers every pending request.
    void queue_notify(uint16_t queue_index) override;
    // Drops the queue.
    void reset() override;

    // Nothing to wait for: requests are answered and returned within the
    // notify that offered them.
    Result<void> quiesce() override;
    // Nothing to restart: there is no thread.
    Result<void> resume() override;
    // The position of the request queue.
    std::vector<QueuePosition> queue_positions() const override;
    // No fields: entropy has no state worth keeping.
    Result<NamedValues> save_state() const override;
    // Accepts only the empty field set save_state() writes.
    Result<void> restore_state(const NamedValues& values) override;

private:
    RngDevice() = default;

    void answer_requests();
    Result<uint32_t> answer(const DescriptorChain& chain);

    GuestMemory* m_memory = nullptr;
    std::vector<Queue> m_queues;
    std::function<void()> m_signal_used_buffer;
    std::vector<uint8_t> m_entropy;
    RateLimit m_broken_log;
};

} // namespace spore
