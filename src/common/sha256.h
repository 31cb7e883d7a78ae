#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>

#include "common/error.h"

namespace spore {

using Sha256Digest = std::array<uint8_t, 32>;

Sha256Digest sha256(std::span<const uint8_t> bytes);
// Lower-case hex, as sha256sum prints it.
std::string to_hex(std::span<const uint8_t> bytes);

} // namespace spore
