#include "guest/embedded_initrd.h"

// Defined by embedded_initrd.S around the .incbin of the cpio.
extern "C" {
[[gnu::visibility("hidden")]] extern const uint8_t spore_embedded_initrd_start[];
[[gnu::visibility("hidden")]] extern const uint8_t spore_embedded_initrd_end[];
}

namespace spore {

std::span<const uint8_t> embedded_initrd()
{
    return {spore_embedded_initrd_start, spore_embedded_initrd_end};
}

} // namespace spore
