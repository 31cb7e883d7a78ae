#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "arch/aarch64/kernel_image.h"
#include "common/error.h"

namespace spore {

// A guest kernel that passed every check: a valid arm64 Image whose
// configuration has what the board and the agent need.
struct GuestKernel {
    std::string path;
    std::vector<uint8_t> image;
    KernelImageHeader header;
};

// The directory holding the managed kernel (Image, Image.sha256, config):
// $SPOREVM_KERNEL_DIR if set, else ../share/sporevm/kernel next to the
// running executable.
std::string managed_kernel_directory();

// Loads the managed kernel, checking its SHA-256 against Image.sha256 on
// every call, so a corrupted cache never boots.
Result<GuestKernel> load_managed_kernel(const std::string& directory);

// Loads a user-supplied kernel. Its configuration is read from the image
// (CONFIG_IKCONFIG) or, failing that, from PATH.config or a `config` file
// beside it; a kernel whose configuration cannot be found is refused.
Result<GuestKernel> load_kernel_override(const std::string& path);

// Loads an initrd file (bounded in size); its content is the guest's
// business, but an empty file is refused.
Result<std::vector<uint8_t>> load_initrd(const std::string& path);

} // namespace spore
