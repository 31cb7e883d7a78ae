#include "vmm/debug_uart.h"

#include <cstring>

namespace spore {

namespace {

// Registers are 32 bits apart (mmio32).
constexpr uint64_t transmit_register = 0;
constexpr uint64_t line_status_register = 5 * 4;
constexpr uint8_t transmitter_empty = 0x60; // THRE | TEMT

} // namespace

void DebugUart::mmio_read(uint64_t offset, std::span<uint8_t> data)
{
    std::memset(data.data(), 0, data.size());
    if (offset == line_status_register && !data.empty())
        data[0] = transmitter_empty;
}

void DebugUart::mmio_write(uint64_t offset, std::span<const uint8_t> data)
{
    if (offset != transmit_register || data.empty())
        return;
    std::lock_guard guard(m_lock);
    char byte = static_cast<char>(data[0]);
    if (byte == '\r')
        return;
    m_line.push_back(byte);
    if (byte == '\n' || m_line.size() >= 4096) {
        m_sink(m_line);
        m_line.clear();
    }
}

} // namespace spore
