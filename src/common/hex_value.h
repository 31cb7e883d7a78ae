#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"

namespace spore {

// The textual form of register-like values in manifests: "0x" and two
// lower-case hex digits per byte, most significant first, so the width of
// the value is part of its text.
std::string format_hex_u64(uint64_t value);
std::string format_hex_u32(uint32_t value);
// Bytes given little-endian (as KVM hands 128-bit registers over), printed
// most significant byte first.
std::string format_hex_bytes_le(std::span<const uint8_t> bytes);

// Parses exactly `width` bytes of hex; anything else (missing prefix,
// wrong digit count, upper-case digits, junk) is refused. `name` goes into
// the error message.
Result<uint64_t> parse_hex_u64(std::string_view text, std::string_view name);
Result<uint32_t> parse_hex_u32(std::string_view text, std::string_view name);
Result<std::vector<uint8_t>> parse_hex_bytes_le(std::string_view text, size_t width, std::string_view name);

} // namespace spore
