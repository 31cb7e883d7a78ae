#pragma once

#include <string>
#include <vector>

#include "common/error.h"
#include "spore/manifest.h"
#include "vmm/machine.h"

namespace spore {

// Captures machine into a new spore at path, published atomically: either
// a complete spore appears at path or nothing does. sessions are the
// commands still running in the guest, with how much output the host has
// delivered. The machine is left paused; the caller resumes or stops it.
// On success, the new spore becomes the machine's memory baseline, so a
// later capture hashes only what changes after this one.
// running is the identity the guest runs under; the spore records the
// generation it will present next (docs/generation-device.md).
Result<void> capture_machine(Machine& machine, const std::string& path, std::vector<RunningSession> sessions,
                             const Identity& running);

} // namespace spore
