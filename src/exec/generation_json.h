#pragma once

#include <string_view>

#include "common/error.h"
#include "exec/generation.h"
#include "exec/strict_json.h"

// Generation parameters as JSON values, for the exec protocol's parser,
// which meets them inside a request; internal to src/exec.
namespace spore::exec::detail {

// Reads and validates parameters from a parsed JSON value; messages start
// with what. Duplicate keys must have been refused while parsing.
Result<GenerationParameters> generation_from_json(const Json& value, std::string_view what);

// The parameters as a JSON object.
Json generation_to_json(const GenerationParameters& parameters);

} // namespace spore::exec::detail
