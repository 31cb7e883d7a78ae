#include "arch/aarch64/boot_layout.h"

#include <string>

#include "arch/aarch64/board.h"

namespace spore {

namespace {

constexpr uint64_t align_down(uint64_t value, uint64_t alignment) { return value & ~(alignment - 1); }

} // namespace

Result<BootLayout> plan_boot_layout(uint64_t ram_size, const KernelImageHeader& kernel,
                                    uint64_t initrd_size)
{
    BootLayout layout;
    layout.kernel_address = board::ram_base + kernel.text_offset;
    uint64_t kernel_end = layout.kernel_address + kernel.image_size;
    uint64_t ram_end = board::ram_base + ram_size;
    if (ram_size < board::fdt_region_size * 2)
        return Error::invalid("boot: RAM too small");
    layout.fdt_address = ram_end - board::fdt_region_size;

    uint64_t below_fdt = layout.fdt_address;
    if (initrd_size > 0) {
        if (initrd_size > below_fdt - board::ram_base)
            return Error::invalid("boot: initrd of " + std::to_string(initrd_size) + " bytes does not fit in RAM");
        layout.initrd_address = align_down(below_fdt - initrd_size, board::ram_alignment);
        layout.initrd_size = initrd_size;
        below_fdt = layout.initrd_address;
    }
    if (kernel_end > below_fdt)
        return Error::invalid("boot: kernel, initrd and device tree do not fit in " +
                              std::to_string(ram_size >> 20) + " MiB of RAM");
    return layout;
}

} // namespace spore
