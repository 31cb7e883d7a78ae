#pragma once

#include <cstdint>
#include <span>

namespace spore {

// A device reached through guest MMIO accesses. Offsets are relative to the
// device's base address; data is 1, 2, 4 or 8 bytes, little-endian. Called
// from vCPU threads: implementations serialize their own state.
class MmioDevice {
public:
    virtual ~MmioDevice() = default;
    virtual void mmio_read(uint64_t offset, std::span<uint8_t> data) = 0;
    virtual void mmio_write(uint64_t offset, std::span<const uint8_t> data) = 0;
};

// One interrupt wire from a device to the interrupt controller. Level
// semantics: the line stays asserted until the device lowers it.
class InterruptLine {
public:
    virtual ~InterruptLine() = default;
    virtual void set_level(bool asserted) = 0;
};

} // namespace spore
