#pragma once

#include <functional>
#include <mutex>
#include <string>
#include <string_view>

#include "vmm/mmio_device.h"

namespace spore {

// The smallest 8250 that Linux's `earlycon=uart8250,mmio32` accepts: the
// transmit register takes bytes, the line status register always reports
// an empty transmitter, everything else reads as zero. Output-only, no
// interrupts; it exists to see early boot failures under --debug.
class DebugUart final : public MmioDevice {
public:
    explicit DebugUart(std::function<void(std::string_view)> sink) : m_sink(std::move(sink)) {}

    void mmio_read(uint64_t offset, std::span<uint8_t> data) override;
    void mmio_write(uint64_t offset, std::span<const uint8_t> data) override;

private:
    std::function<void(std::string_view)> m_sink;
    std::mutex m_lock;
    std::string m_line;
};

} // namespace spore
