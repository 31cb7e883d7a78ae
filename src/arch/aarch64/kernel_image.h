#pragma once

#include <cstdint>
#include <span>

#include "common/error.h"

namespace spore {

// The header of an arm64 Linux `Image` (Documentation/arm64/booting.rst).
struct KernelImageHeader {
    uint64_t text_offset = 0; // load offset from a 2 MiB aligned base
    uint64_t image_size = 0;  // bytes the kernel needs from its load address, bss included
    uint64_t flags = 0;
};

// Validates and parses an arm64 Image: magic, little-endian flag, a
// nonzero effective size that covers the file. Refuses compressed
// (vmlinuz-style gzip/EFI zboot) and non-arm64 files with a clear reason.
Result<KernelImageHeader> parse_kernel_image(std::span<const uint8_t> image);

} // namespace spore
