#include "vmm/mmio_bus.h"

#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace spore {

void MmioBus::add(uint64_t base, uint64_t size, MmioDevice& device)
{
    for (const auto& range : m_ranges) {
        if (base < range.base + range.size && range.base < base + size) {
            std::fprintf(stderr, "spore: mmio bus: overlapping device at 0x%" PRIx64 "\n", base);
            std::abort();
        }
    }
    m_ranges.push_back({base, size, &device});
}

const MmioBus::Range* MmioBus::find(uint64_t address, uint64_t length) const
{
    for (const auto& range : m_ranges) {
        if (address >= range.base && address - range.base < range.size &&
            length <= range.size - (address - range.base))
            return &range;
    }
    return nullptr;
}

void MmioBus::read(uint64_t address, std::span<uint8_t> data)
{
    if (const Range* range = find(address, data.size())) {
        range->device->mmio_read(address - range->base, data);
        return;
    }
    std::memset(data.data(), 0, data.size());
    if (m_unclaimed_log.allow())
        log::debug("mmio", "read of unclaimed address 0x%" PRIx64, address);
}

void MmioBus::write(uint64_t address, std::span<const uint8_t> data)
{
    if (const Range* range = find(address, data.size())) {
        range->device->mmio_write(address - range->base, data);
        return;
    }
    if (m_unclaimed_log.allow())
        log::debug("mmio", "write to unclaimed address 0x%" PRIx64, address);
}

} // namespace spore
