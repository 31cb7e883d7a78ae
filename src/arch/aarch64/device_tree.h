#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "arch/aarch64/board.h"
#include "common/error.h"

namespace spore {

// What varies between boots of the fixed board; everything else in the
// device tree comes from board.h.
struct DeviceTreeConfig {
    uint64_t ram_size = board::default_ram_size;
    std::vector<uint64_t> vcpu_mpidrs;  // MPIDR_EL1 of each vCPU, boot vCPU first
    std::string bootargs;
    uint64_t initrd_address = 0;        // 0: no initrd
    uint64_t initrd_size = 0;
    std::vector<board::VirtioSlot> virtio_slots;
    std::vector<uint8_t> rng_seed;      // handed to the kernel as /chosen/rng-seed
};

// Builds the flattened device tree of the board with libfdt.
Result<std::vector<uint8_t>> build_device_tree(const DeviceTreeConfig& config);

} // namespace spore
