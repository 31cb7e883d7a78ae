#pragma once

// Content digests in the OCI form "sha256:<64 lower-case hex digits>", the
// only way a spore names bytes.

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace spore {

// The algorithm prefix every digest carries.
inline constexpr std::string_view kDigestPrefix = "sha256:";
// Length of a whole digest: the prefix and 64 hex digits.
inline constexpr size_t kDigestLength = kDigestPrefix.size() + 64;

// The digest of bytes.
std::string digest_of(std::span<const uint8_t> bytes);

// Whether text is exactly "sha256:" and 64 lower-case hex digits.
bool is_valid_digest(std::string_view text);

} // namespace spore
