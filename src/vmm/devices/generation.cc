#include "vmm/devices/generation.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "common/hex_value.h"
#include "virtio/field_reader.h"

namespace spore {
namespace {

constexpr uint64_t kRegisterWidth = 4;

uint32_t low_half(uint64_t value)
{
    return static_cast<uint32_t>(value);
}

uint32_t high_half(uint64_t value)
{
    return static_cast<uint32_t>(value >> 32);
}

uint64_t with_low_half(uint64_t value, uint32_t half)
{
    return (value & 0xffff'ffff'0000'0000ull) | half;
}

uint64_t with_high_half(uint64_t value, uint32_t half)
{
    return (value & 0xffff'ffffull) | (uint64_t{half} << 32);
}

bool is_access_width(size_t size)
{
    return size == 1 || size == 2 || size == 4 || size == 8;
}

// Whole host pages, so the guest can be given the parameter page without
// seeing anything else of the monitor's memory.
size_t params_mapping_size()
{
    auto page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
    return (GenerationDevice::kParamsPageSize + page - 1) / page * page;
}

// The guest maps the parameter page as device memory, and such reads
// bypass the data cache. Clean what the host just wrote to the point of
// coherency so those reads see it (KVM does the same when it first maps
// the page, but a guest that already mapped it would not be helped).
void make_visible_to_uncached_reads(std::span<const uint8_t> bytes)
{
#if defined(__aarch64__)
    uint64_t cache_type;
    asm volatile("mrs %0, ctr_el0" : "=r"(cache_type));
    uintptr_t line = uintptr_t{4} << ((cache_type >> 16) & 0xf); // CTR_EL0.DminLine, in words
    auto start = reinterpret_cast<uintptr_t>(bytes.data());
    for (uintptr_t address = start & ~(line - 1); address < start + bytes.size(); address += line)
        asm volatile("dc cvac, %0" : : "r"(address) : "memory");
    asm volatile("dsb ish" : : : "memory");
#else
    (void)bytes; // only an aarch64 host runs guests
#endif
}

} // namespace

Result<std::unique_ptr<GenerationDevice>> GenerationDevice::create(InterruptLine& line)
{
    void* page = mmap(nullptr, params_mapping_size(), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (page == MAP_FAILED)
        return Error::from_errno("generation device: mapping the parameter page");
    std::span<uint8_t> params(static_cast<uint8_t*>(page), kParamsPageSize);
    return std::unique_ptr<GenerationDevice>(new GenerationDevice(line, params));
}

GenerationDevice::~GenerationDevice()
{
    munmap(m_params.data(), params_mapping_size());
}

void GenerationDevice::fill_params(std::string_view json)
{
    auto end = std::copy(json.begin(), json.end(), m_params.begin());
    std::fill(end, m_params.end(), 0);
    make_visible_to_uncached_reads(m_params);
    m_params_length = static_cast<uint32_t>(json.size());
}

void GenerationDevice::mmio_read(uint64_t offset, std::span<uint8_t> data)
{
    std::fill(data.begin(), data.end(), 0);
    std::lock_guard lock(m_mutex);
    if (offset < kParamsOffset) {
        if (data.size() != kRegisterWidth || offset % kRegisterWidth != 0)
            return;
        uint32_t value = read_register(offset);
        for (size_t index = 0; index < kRegisterWidth; index++)
            data[index] = static_cast<uint8_t>(value >> (8 * index));
        return;
    }
    if (offset >= kSize || !is_access_width(data.size()))
        return;
    // The page is the JSON then zeros; a read running off its end (which a
    // bus that checks the device size never sends) gets zeros there.
    size_t start = offset - kParamsOffset;
    size_t count = std::min(data.size(), m_params.size() - start);
    std::memcpy(data.data(), m_params.data() + start, count);
}

void GenerationDevice::mmio_write(uint64_t offset, std::span<const uint8_t> data)
{
    if (offset >= kParamsOffset || data.size() != kRegisterWidth || offset % kRegisterWidth != 0)
        return;
    uint32_t value = 0;
    for (size_t index = 0; index < kRegisterWidth; index++)
        value |= uint32_t{data[index]} << (8 * index);
    std::lock_guard lock(m_mutex);
    write_register(offset, value);
}

uint32_t GenerationDevice::read_register(uint64_t offset) const
{
    switch (offset) {
    case kMagicRegister:
        return kMagic;
    case kVersionRegister:
        return kVersion;
    case kGenerationLow:
        return low_half(m_generation);
    case kGenerationHigh:
        return high_half(m_generation);
    case kInterruptStatus:
        return m_interrupt_status;
    case kParamsLength:
        return m_params_length;
    case kAppliedLow:
        return low_half(m_applied);
    case kAppliedHigh:
        return high_half(m_applied);
    default:
        return 0; // INTERRUPT_ACK is write-only; unlisted offsets read as zero
    }
}

void GenerationDevice::write_register(uint64_t offset, uint32_t value)
{
    switch (offset) {
    case kInterruptAck:
        if (value & kGenerationPending) {
            m_interrupt_status &= ~kGenerationPending;
            m_line.set_level(false);
        }
        return;
    case kAppliedLow:
        m_applied = with_low_half(m_applied, value);
        return;
    case kAppliedHigh:
        m_applied = with_high_half(m_applied, value);
        return;
    default:
        return; // read-only and unlisted registers ignore writes
    }
}

Result<void> GenerationDevice::present(uint64_t generation, std::string params_json)
{
    if (generation == 0)
        return Error::invalid("generation device: generation 0 cannot be presented");
    if (params_json.size() > kMaxParamsLength) {
        return Error::invalid("generation device: parameters are "
            + std::to_string(params_json.size()) + " bytes, limit is "
            + std::to_string(kMaxParamsLength));
    }
    std::lock_guard lock(m_mutex);
    fill_params(params_json);
    m_generation = generation;
    m_interrupt_status |= kGenerationPending;
    // Under the lock, so the line always agrees with the status bit even
    // if a vCPU acknowledges at the same moment.
    m_line.set_level(true);
    return {};
}

uint64_t GenerationDevice::applied_generation() const
{
    std::lock_guard lock(m_mutex);
    return m_applied;
}

uint64_t GenerationDevice::generation() const
{
    std::lock_guard lock(m_mutex);
    return m_generation;
}

NamedValues GenerationDevice::save_state() const
{
    std::lock_guard lock(m_mutex);
    return {
        {"applied_generation", format_hex_u64(m_applied)},
        {"generation", format_hex_u64(m_generation)},
        {"interrupt_status", format_hex_u32(m_interrupt_status)},
    };
}

Result<void> GenerationDevice::restore_state(const NamedValues& values)
{
    FieldReader fields(values, "device field");
    uint64_t applied = TRY(fields.u64("applied_generation"));
    uint64_t generation = TRY(fields.u64("generation"));
    uint32_t status = TRY(fields.u32("interrupt_status", kGenerationPending));
    TRY(fields.finish());

    std::lock_guard lock(m_mutex);
    m_applied = applied;
    m_generation = generation;
    m_interrupt_status = status;
    fill_params({});
    if (status & kGenerationPending)
        m_line.set_level(true);
    return {};
}

} // namespace spore
