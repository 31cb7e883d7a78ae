#pragma once

// Parsing of untrusted JSON documents (manifests, bundle indexes) with the
// checks a DOM cannot make afterwards, and the quoting of untrusted text
// in one-line messages.

#include <cstddef>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "common/error.h"

namespace spore {

// text as it may appear in a message: printable ASCII only (anything else
// becomes '?'), at most limit characters, "..." when cut. Hostile text then
// stays inert on a terminal and in logs.
std::string printable(std::string_view text, size_t limit);

// Parses text (RFC 8259, nothing after the value) into a DOM, refusing a
// key that appears twice in one object (a DOM silently keeps one) and
// nesting deeper than max_depth, before any tree is built: the checks walk
// SAX events, so a hostile document costs time linear in its size. Errors
// are InvalidInput, for the caller to prefix with the document's name:
// "malformed json at byte N", "duplicate field PATH" (PATH as in
// "platform.foo" or "vcpus[1].index"), "nested deeper than N levels".
// Never throws.
Result<nlohmann::json> parse_strict_json(std::string_view text, size_t max_depth);

} // namespace spore
