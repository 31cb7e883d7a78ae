#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>

#include "common/error.h"
#include "spore/manifest.h"
#include "vmm/mmio_device.h"

namespace spore {

// The generation device, version 1 (docs/generation-device.md): a register
// page through which the host tells the guest it is a new instance of a
// captured machine, and a parameter page of JSON describing that instance.
// Registers are 32 bits wide; accesses of any other width, unaligned ones
// and unlisted offsets read as zero and are ignored. The parameter page
// takes reads of 1, 2, 4 or 8 bytes anywhere; writes to it are ignored.
//
// The parameter page lives in a page of host memory of its own, so that
// the monitor can also map it into the guest read-only (params_page()):
// the guest then reads it without trapping, and only the register page
// is emulated.
//
// Guest accesses arrive on vCPU threads; present() and the snapshot hooks
// come from the monitor. One lock serializes them all.
class GenerationDevice final : public MmioDevice {
public:
    // Bytes of MMIO space: the register page and the parameter page.
    static constexpr uint64_t kSize = 0x2000;
    // Where the parameter page starts.
    static constexpr uint64_t kParamsOffset = 0x1000;
    // Size of the parameter page, and so the longest parameter JSON; the
    // page holds it followed by zeros.
    static constexpr size_t kParamsPageSize = 0x1000;
    static constexpr size_t kMaxParamsLength = kParamsPageSize;
    // Register values and offsets.
    static constexpr uint32_t kMagic = 0x4e454753; // "SGEN" in memory order
    static constexpr uint32_t kVersion = 1;
    static constexpr uint64_t kMagicRegister = 0x000;
    static constexpr uint64_t kVersionRegister = 0x004;
    static constexpr uint64_t kGenerationLow = 0x008;
    static constexpr uint64_t kGenerationHigh = 0x00c;
    static constexpr uint64_t kInterruptStatus = 0x010;
    static constexpr uint64_t kInterruptAck = 0x014;
    static constexpr uint64_t kParamsLength = 0x018;
    static constexpr uint64_t kAppliedLow = 0x01c;
    static constexpr uint64_t kAppliedHigh = 0x020;
    // INTERRUPT_STATUS and INTERRUPT_ACK bit 0: a new generation is pending.
    static constexpr uint32_t kGenerationPending = 1;

    // A device that has presented nothing yet, raising line when it does.
    // line must outlive the device.
    static Result<std::unique_ptr<GenerationDevice>> create(InterruptLine& line);

    // A guest read: registers, or bytes of the parameter page.
    void mmio_read(uint64_t offset, std::span<uint8_t> data) override;
    // A guest write: INTERRUPT_ACK, APPLIED_LOW or APPLIED_HIGH; others are ignored.
    void mmio_write(uint64_t offset, std::span<const uint8_t> data) override;

    // Presents a new instance: sets the generation (at least 1) and the
    // parameters (at most 4096 bytes, replacing the previous ones), marks a
    // generation pending and asserts the line. Call only while every vCPU
    // is stopped, so the guest never sees a half-updated device.
    Result<void> present(uint64_t generation, std::string params_json);

    // The parameter page's host memory: kParamsPageSize bytes, starting on
    // a host page boundary.
    std::span<const uint8_t> params_page() const { return m_params; }

    // The generation the guest last wrote as applied.
    uint64_t applied_generation() const;
    // The generation last presented (or restored); 0 before any.
    uint64_t generation() const;

    // The state a spore keeps: generation, applied generation and interrupt
    // status. Parameters are not kept: every resume presents new ones.
    NamedValues save_state() const;
    // Restores what save_state() wrote, refusing unknown, missing or
    // malformed fields, and re-asserts the line if a generation was pending.
    // The parameter page stays empty until the next present().
    Result<void> restore_state(const NamedValues& values);

    ~GenerationDevice() override;
    GenerationDevice(const GenerationDevice&) = delete;
    GenerationDevice& operator=(const GenerationDevice&) = delete;

private:
    GenerationDevice(InterruptLine& line, std::span<uint8_t> params_page)
        : m_line(line)
        , m_params(params_page)
    {
    }

    // Writes the parameter page: the JSON, then zeros.
    void fill_params(std::string_view json);

    uint32_t read_register(uint64_t offset) const;
    void write_register(uint64_t offset, uint32_t value);

    InterruptLine& m_line;
    mutable std::mutex m_mutex;
    uint64_t m_generation = 0;
    uint64_t m_applied = 0;
    uint32_t m_interrupt_status = 0;
    uint32_t m_params_length = 0;
    std::span<uint8_t> m_params; // kParamsPageSize bytes of a private mapping
};

} // namespace spore
