#pragma once

#include <nlohmann/json.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "common/error.h"
#include "exec/protocol.h"

// JSON helpers shared by the exec protocol's parsers; internal to src/exec.
namespace spore::exec::detail {

using Json = nlohmann::json;

// Longest field name quoted back in an error message.
inline constexpr size_t kMaxQuotedName = 64;

// What the parser callback noticed that a DOM cannot show afterwards.
struct JsonShape {
    std::optional<std::string> duplicate_key;
    bool too_deep = false;
};

// Parses a JSON document, recording duplicate keys in any object and
// refusing nesting beyond exec::kMaxJsonDepth, so hostile input cannot exhaust
// memory however it nests. A malformed document, one holding a nul byte
// included, comes back discarded.
Json parse_json(std::span<const uint8_t> payload, JsonShape& shape);

// Only printable ASCII survives, so peer-controlled text stays inert on a terminal.
std::string printable(std::string_view text, size_t limit);

// "WHAT: unknown field KEY", with the key made printable and cut short.
Error unknown_field(std::string_view what, std::string_view key);

// "WHAT: duplicate field KEY", likewise.
Error duplicate_field(std::string_view what, std::string_view key);

// The value as a u64; anything but a non-negative integer is refused.
Result<uint64_t> unsigned_field(const Json& value, std::string_view what);

} // namespace spore::exec::detail
