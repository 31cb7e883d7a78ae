#include "arch/aarch64/kernel_image.h"

#include <cstring>
#include <string>

namespace spore {

namespace {

constexpr size_t header_size = 64;
constexpr uint32_t arm64_magic = 0x644d5241; // "ARM\x64"
constexpr uint64_t flag_big_endian = 1;

uint64_t load_u64(std::span<const uint8_t> bytes, size_t offset)
{
    uint64_t value;
    std::memcpy(&value, bytes.data() + offset, sizeof value);
    return value;
}

} // namespace

Result<KernelImageHeader> parse_kernel_image(std::span<const uint8_t> image)
{
    if (image.size() < header_size)
        return Error::invalid("kernel: file too small for an arm64 Image header");
    if (image[0] == 0x1f && image[1] == 0x8b)
        return Error::invalid("kernel: file is gzip-compressed; pass the uncompressed arm64 Image");

    uint32_t magic;
    std::memcpy(&magic, image.data() + 56, sizeof magic);
    if (magic != arm64_magic)
        return Error::invalid("kernel: not an arm64 Image (bad magic at offset 56)");

    KernelImageHeader header;
    header.text_offset = load_u64(image, 8);
    header.image_size = load_u64(image, 16);
    header.flags = load_u64(image, 24);
    if (header.flags & flag_big_endian)
        return Error::not_supported("kernel: big-endian kernels are not supported");
    if (header.image_size == 0)
        return Error::not_supported("kernel: Image header has no image_size (kernel older than 3.17)");
    if (header.image_size < image.size())
        return Error::invalid("kernel: image_size " + std::to_string(header.image_size) +
                              " is smaller than the file");
    if (header.text_offset % 4096 != 0 || header.text_offset >= 2 * 1024 * 1024)
        return Error::invalid("kernel: text_offset is not page aligned below 2 MiB");
    return header;
}

} // namespace spore
