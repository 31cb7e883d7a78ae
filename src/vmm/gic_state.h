#pragma once

#include <cstdint>
#include <vector>

#include "common/error.h"
#include "kvm/kvm.h"
#include "spore/manifest.h"

namespace spore {

// Saves the in-kernel GICv3's state for the board's interrupts: the
// distributor's SPI configuration, each vCPU's redistributor (SGIs and
// PPIs) and CPU interface, and the input line levels. mpidrs are the
// vCPUs' MPIDR_EL1 values in index order. Every vCPU must be parked.
Result<GicState> save_gic_state(kvm::Vm& vm, const std::vector<uint64_t>& mpidrs);

// Restores saved state into a freshly initialized GIC. Every expected
// register must be present and no unknown one may be; values are checked.
Result<void> restore_gic_state(kvm::Vm& vm, const std::vector<uint64_t>& mpidrs, const GicState& state);

} // namespace spore
