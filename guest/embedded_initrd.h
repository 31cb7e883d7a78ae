#pragma once

#include <cstdint>
#include <span>

namespace spore {

// The guest initrd built with this binary (newc cpio: spore-agent as /init
// plus busybox), ready to load into guest memory. Static, never empty.
std::span<const uint8_t> embedded_initrd();

} // namespace spore
