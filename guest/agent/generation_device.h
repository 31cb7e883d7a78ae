#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "common/error.h"
#include "common/unique_fd.h"
#include "exec/generation.h"

// The guest side of the generation device (docs/generation-device.md),
// which the kernel's uio_pdrv_genirq driver hands to user space.
namespace spore::agent {

// Register offsets from the base of the device.
namespace generation_register {
inline constexpr size_t kMagic = 0x000;
inline constexpr size_t kVersion = 0x004;
inline constexpr size_t kGenerationLow = 0x008;
inline constexpr size_t kGenerationHigh = 0x00c;
inline constexpr size_t kInterruptStatus = 0x010;
inline constexpr size_t kInterruptAck = 0x014;
inline constexpr size_t kParamsLength = 0x018;
inline constexpr size_t kAppliedLow = 0x01c;
inline constexpr size_t kAppliedHigh = 0x020;
} // namespace generation_register

inline constexpr uint32_t kGenerationMagic = 0x4e454753; // "SGEN" in memory order
inline constexpr uint32_t kGenerationDeviceVersion = 1;

// Offset of the parameter page and size of the whole device.
inline constexpr size_t kGenerationParamsOffset = 0x1000;
inline constexpr size_t kGenerationDeviceSize = 0x2000;

// The uio node name uio_pdrv_genirq gives the device: its device tree node
// name without the unit address.
inline constexpr const char* kGenerationUioName = "generation";

// The uio node ("uioN") under class_dir whose name is kGenerationUioName,
// std::nullopt when there is none, such as under a kernel without uio.
std::optional<std::string> find_generation_uio(const std::string& class_dir);

// Where uio map 0 of node starts within its mmap() and how long the
// mapping must be, from class_dir/node/maps/map0/{offset,size}.
struct UioMap {
    size_t offset = 0;
    size_t size = 0;
};
Result<UioMap> read_uio_map(const std::string& class_dir, const std::string& node);

// The device's registers and parameter page, mapped, and the uio file that
// reports its interrupt. Registers are read and written 32 bits at a time
// and the parameter page 64 bits at a time, as the device requires.
class GenerationDevice {
public:
    // Finds the device below class_dir ("/sys/class/uio"), opens its node
    // in dev_dir ("/dev"), maps it and checks MAGIC and VERSION. nullptr
    // when the board has no generation device.
    static Result<std::unique_ptr<GenerationDevice>> open(
        const std::string& class_dir = "/sys/class/uio", const std::string& dev_dir = "/dev");

    // Takes over uio (the interrupt file, or what stands for it in tests)
    // and a mapping of mapping_size bytes whose device window starts at
    // window_offset; the mapping is unmapped on destruction.
    GenerationDevice(UniqueFd uio, void* mapping, size_t mapping_size, size_t window_offset);
    GenerationDevice(const GenerationDevice&) = delete;
    GenerationDevice& operator=(const GenerationDevice&) = delete;
    ~GenerationDevice();

    // The uio file; readable when the interrupt fired.
    int fd() const { return m_uio.get(); }

    // Whether MAGIC and VERSION are those of a version 1 generation device.
    Result<void> check_identity() const;

    // Whether a new generation waits for acknowledgement (INTERRUPT_STATUS).
    bool pending() const;

    // Consumes the interrupt count the uio file holds; no event waiting is
    // no error.
    Result<void> take_interrupt();

    // Reads and parses the parameter page, refusing a device whose identity
    // changed, a length beyond the page, and parameters of another
    // generation than the GENERATION registers.
    Result<exec::GenerationParameters> read_parameters() const;

    // Writes generation to APPLIED_LOW and APPLIED_HIGH.
    void report_applied(uint64_t generation);

    // Writes INTERRUPT_ACK, which clears the status and lowers the line.
    void acknowledge();

    // Unmasks the interrupt, which uio_pdrv_genirq masks on every delivery.
    Result<void> enable_interrupt();

private:
    uint32_t read_register(size_t offset) const;
    void write_register(size_t offset, uint32_t value);

    UniqueFd m_uio;
    void* m_mapping;
    size_t m_mapping_size;
    volatile uint8_t* m_window;
};

} // namespace spore::agent
