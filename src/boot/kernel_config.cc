#include "boot/kernel_config.h"

#include <zlib.h>

#include <algorithm>
#include <vector>

namespace spore {

namespace {

constexpr std::string_view start_marker = "IKCFG_ST";
constexpr std::string_view end_marker = "IKCFG_ED";
constexpr size_t max_config_size = 4 * 1024 * 1024;

// Built-in features that `spore run` relies on. Modules do not count: the
// managed initrd loads none.
constexpr const char* required_options[] = {
    "CONFIG_VIRTIO_MMIO", "CONFIG_VIRTIO_CONSOLE", "CONFIG_HW_RANDOM_VIRTIO",
    "CONFIG_VSOCKETS", "CONFIG_VIRTIO_VSOCKETS", "CONFIG_BLK_DEV_INITRD",
    "CONFIG_DEVTMPFS", "CONFIG_ARM_GIC_V3", "CONFIG_ARM_PSCI_FW",
    "CONFIG_PROC_FS", "CONFIG_SYSFS", "CONFIG_TMPFS", "CONFIG_UNIX98_PTYS",
    "CONFIG_CGROUPS", "CONFIG_FILE_LOCKING",
};

Result<std::string> inflate_gzip(std::span<const uint8_t> compressed)
{
    z_stream stream{};
    // 16 + MAX_WBITS: expect a gzip wrapper.
    if (inflateInit2(&stream, 16 + MAX_WBITS) != Z_OK)
        return Error::invalid("kernel config: inflateInit failed");
    std::string text(max_config_size, '\0');
    stream.next_in = const_cast<Bytef*>(compressed.data());
    stream.avail_in = static_cast<uInt>(compressed.size());
    stream.next_out = reinterpret_cast<Bytef*>(text.data());
    stream.avail_out = static_cast<uInt>(text.size());
    int status = inflate(&stream, Z_FINISH);
    size_t produced = stream.total_out;
    inflateEnd(&stream);
    if (status != Z_STREAM_END)
        return Error::invalid("kernel config: embedded configuration is corrupt or too large");
    text.resize(produced);
    return text;
}

} // namespace

Result<KernelConfig> KernelConfig::parse(std::string_view text)
{
    if (text.size() > max_config_size)
        return Error::invalid("kernel config: larger than 4 MiB");
    KernelConfig config;
    while (!text.empty()) {
        size_t end = text.find('\n');
        std::string_view line = text.substr(0, end);
        text = end == std::string_view::npos ? std::string_view() : text.substr(end + 1);
        if (!line.starts_with("CONFIG_"))
            continue;
        size_t equals = line.find('=');
        if (equals == std::string_view::npos)
            return Error::invalid("kernel config: malformed line: " + std::string(line.substr(0, 80)));
        config.m_options[std::string(line.substr(0, equals))] = std::string(line.substr(equals + 1));
    }
    return config;
}

Result<KernelConfig> KernelConfig::from_image(std::span<const uint8_t> image)
{
    auto begin = std::search(image.begin(), image.end(), start_marker.begin(), start_marker.end());
    if (begin == image.end())
        return Error::not_found("kernel config: the kernel does not embed its configuration (CONFIG_IKCONFIG)");
    auto payload = begin + static_cast<std::ptrdiff_t>(start_marker.size());
    auto end = std::search(payload, image.end(), end_marker.begin(), end_marker.end());
    if (end == image.end())
        return Error::invalid("kernel config: embedded configuration has no end marker");
    return parse(TRY(inflate_gzip(std::span(payload, end))));
}

std::optional<std::string> KernelConfig::value(const std::string& option) const
{
    auto found = m_options.find(option);
    if (found == m_options.end())
        return std::nullopt;
    return found->second;
}

Result<void> check_guest_kernel_config(const KernelConfig& config)
{
    std::string missing;
    for (const char* option : required_options) {
        if (config.value(option) == "y")
            continue;
        missing += missing.empty() ? "" : ", ";
        missing += std::string(option) + "=y";
    }
    if (!missing.empty())
        return Error::not_supported("kernel: missing required built-in options: " + missing);
    return {};
}

} // namespace spore
