#include "guest/agent/generation_device.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <vector>

namespace spore::agent {
namespace {

namespace reg = generation_register;

// A sysfs attribute's first line.
std::optional<std::string> read_attribute(const std::string& path)
{
    std::ifstream file(path);
    std::string line;
    if (!file || !std::getline(file, line))
        return std::nullopt;
    return line;
}

Result<size_t> read_hex_attribute(const std::string& path)
{
    auto text = read_attribute(path);
    if (!text)
        return Error::not_found("cannot read " + path);
    char* end = nullptr;
    errno = 0;
    unsigned long long value = std::strtoull(text->c_str(), &end, 16);
    if (errno != 0 || end == text->c_str() || *end != '\0')
        return Error::invalid(path + ": not a hex number: " + *text);
    return static_cast<size_t>(value);
}

} // namespace

std::optional<std::string> find_generation_uio(const std::string& class_dir)
{
    DIR* directory = opendir(class_dir.c_str());
    if (!directory)
        return std::nullopt;
    std::optional<std::string> found;
    while (dirent* entry = readdir(directory)) {
        std::string node = entry->d_name;
        if (!node.starts_with("uio"))
            continue;
        if (read_attribute(class_dir + "/" + node + "/name") == kGenerationUioName) {
            found = node;
            break;
        }
    }
    closedir(directory);
    return found;
}

Result<UioMap> read_uio_map(const std::string& class_dir, const std::string& node)
{
    std::string map = class_dir + "/" + node + "/maps/map0/";
    UioMap result{TRY(read_hex_attribute(map + "offset")), TRY(read_hex_attribute(map + "size"))};
    if (result.size < result.offset || result.size - result.offset < kGenerationDeviceSize) {
        return Error::invalid(node + " map 0 holds "
            + std::to_string(result.size - std::min(result.size, result.offset))
            + " bytes, the generation device needs " + std::to_string(kGenerationDeviceSize));
    }
    return result;
}

Result<std::unique_ptr<GenerationDevice>> GenerationDevice::open(
    const std::string& class_dir, const std::string& dev_dir)
{
    auto node = find_generation_uio(class_dir);
    if (!node)
        return std::unique_ptr<GenerationDevice>();
    UioMap map = TRY(read_uio_map(class_dir, *node));
    std::string path = dev_dir + "/" + *node;
    UniqueFd uio(::open(path.c_str(), O_RDWR | O_CLOEXEC | O_NONBLOCK));
    if (!uio.valid())
        return Error::from_errno("open " + path);
    // uio selects map N by an mmap offset of N pages; map 0 is the device.
    void* mapping = mmap(nullptr, map.size, PROT_READ | PROT_WRITE, MAP_SHARED, uio.get(), 0);
    if (mapping == MAP_FAILED)
        return Error::from_errno("mmap " + path);
    auto device = std::make_unique<GenerationDevice>(std::move(uio), mapping, map.size, map.offset);
    TRY(device->check_identity());
    return device;
}

GenerationDevice::GenerationDevice(
    UniqueFd uio, void* mapping, size_t mapping_size, size_t window_offset)
    : m_uio(std::move(uio))
    , m_mapping(mapping)
    , m_mapping_size(mapping_size)
    , m_window(static_cast<volatile uint8_t*>(mapping) + window_offset)
{
}

GenerationDevice::~GenerationDevice()
{
    munmap(m_mapping, m_mapping_size);
}

uint32_t GenerationDevice::read_register(size_t offset) const
{
    // Little-endian on both sides of an aarch64 guest; one 32-bit access.
    return *reinterpret_cast<const volatile uint32_t*>(m_window + offset);
}

void GenerationDevice::write_register(size_t offset, uint32_t value)
{
    *reinterpret_cast<volatile uint32_t*>(m_window + offset) = value;
}

Result<void> GenerationDevice::check_identity() const
{
    uint32_t magic = read_register(reg::kMagic);
    uint32_t version = read_register(reg::kVersion);
    if (magic != kGenerationMagic || version != kGenerationDeviceVersion) {
        char text[96];
        std::snprintf(text, sizeof text,
            "magic 0x%08x version %u, not a version %u generation device", magic, version,
            kGenerationDeviceVersion);
        return Error::not_supported(text);
    }
    return {};
}

bool GenerationDevice::pending() const
{
    return (read_register(reg::kInterruptStatus) & 1) != 0;
}

Result<void> GenerationDevice::take_interrupt()
{
    uint32_t count = 0;
    ssize_t got = ::read(m_uio.get(), &count, sizeof count);
    if (got < 0 && (errno == EAGAIN || errno == EINTR))
        return {};
    if (got != static_cast<ssize_t>(sizeof count))
        return Error::from_errno("reading the interrupt count");
    return {};
}

Result<exec::GenerationParameters> GenerationDevice::read_parameters() const
{
    TRY(check_identity());
    uint64_t generation = (uint64_t{read_register(reg::kGenerationHigh)} << 32)
        | read_register(reg::kGenerationLow);
    uint32_t length = read_register(reg::kParamsLength);
    if (length > exec::kMaxGenerationDocument) {
        return Error::invalid("generation parameters: length " + std::to_string(length)
            + ", limit is " + std::to_string(exec::kMaxGenerationDocument));
    }
    // Whole aligned 64-bit words: device memory faults on unaligned access,
    // and wider reads mean fewer traps to the host.
    std::vector<uint8_t> document((length + 7) / 8 * 8);
    const volatile uint64_t* page
        = reinterpret_cast<const volatile uint64_t*>(m_window + kGenerationParamsOffset);
    for (size_t word = 0; word < document.size() / 8; word++) {
        uint64_t value = page[word];
        std::memcpy(document.data() + word * 8, &value, 8);
    }
    document.resize(length);
    auto parameters = TRY(exec::parse_generation_parameters(document));
    if (parameters.generation != generation) {
        return Error::invalid("generation parameters: generation "
            + std::to_string(parameters.generation) + " on a device presenting "
            + std::to_string(generation));
    }
    return parameters;
}

void GenerationDevice::report_applied(uint64_t generation)
{
    write_register(reg::kAppliedLow, static_cast<uint32_t>(generation));
    write_register(reg::kAppliedHigh, static_cast<uint32_t>(generation >> 32));
}

void GenerationDevice::acknowledge()
{
    write_register(reg::kInterruptAck, 1);
}

Result<void> GenerationDevice::enable_interrupt()
{
    uint32_t enable = 1;
    if (::write(m_uio.get(), &enable, sizeof enable) != static_cast<ssize_t>(sizeof enable))
        return Error::from_errno("unmasking the interrupt");
    return {};
}

} // namespace spore::agent
