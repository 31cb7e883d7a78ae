#pragma once

// Guest identity (docs/generation-device.md): fresh identities for cold
// boots and the parameter JSON the generation device presents at resume.

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "spore/manifest.h"

namespace spore {

// Prefix of every derived hostname.
inline constexpr std::string_view kHostnamePrefix = "spore-";
// Hex digits of the vm_id that follow the prefix.
inline constexpr size_t kHostnameIdDigits = 12;

// A fresh random identity for a cold boot: generation 1, no parent, no
// fork batch, a random vm_id and mac_seed, and the hostname they derive.
// Randomness comes from getrandom(2), which cannot fail on the kernels
// SporeVM supports; if it does anyway the process aborts rather than hand
// out identities that clones could share.
Identity new_identity();

// The hostname derived from a vm_id: "spore-" and its first 12 hex digits.
std::string hostname_for(std::string_view vm_id);

// The generation device's parameter JSON for one resume: the identity's
// fields, the entropy as 64 hex digits and the wall clock, compact, in the
// order of the specification's table.
std::string generation_parameters_json(
    const Identity& identity, std::span<const uint8_t, 32> entropy, int64_t time_ns);

} // namespace spore
