#pragma once

#include <cstdint>

#include "arch/aarch64/kernel_image.h"
#include "common/error.h"

namespace spore {

// Where the boot path puts the kernel, the initrd and the device tree in
// guest RAM. Part of the board contract (docs/board.md).
struct BootLayout {
    uint64_t kernel_address = 0;
    uint64_t initrd_address = 0; // 0 when there is no initrd
    uint64_t initrd_size = 0;
    uint64_t fdt_address = 0;
};

// Places the kernel at the RAM base plus its text_offset, the device tree
// at the start of the last 2 MiB of RAM, and the initrd right below the
// device tree on a 2 MiB boundary. Fails when they do not fit in ram_size.
Result<BootLayout> plan_boot_layout(uint64_t ram_size, const KernelImageHeader& kernel,
                                    uint64_t initrd_size);

} // namespace spore
