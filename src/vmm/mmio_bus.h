#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "common/log.h"
#include "vmm/mmio_device.h"

namespace spore {

// Routes guest MMIO accesses to devices by address. Filled before the
// vCPUs start and read-only afterwards, so lookups need no lock.
class MmioBus {
public:
    // Registers [base, base + size). Overlapping ranges are a board bug and
    // abort.
    void add(uint64_t base, uint64_t size, MmioDevice& device);

    // An access to no device reads as zeros and writes are dropped, as on
    // real hardware with an unclaimed bus region; it is logged (rate
    // limited) because the guest triggers it.
    void read(uint64_t address, std::span<uint8_t> data);
    void write(uint64_t address, std::span<const uint8_t> data);

private:
    struct Range {
        uint64_t base;
        uint64_t size;
        MmioDevice* device;
    };
    const Range* find(uint64_t address, uint64_t length) const;

    std::vector<Range> m_ranges;
    RateLimit m_unclaimed_log;
};

} // namespace spore
