#pragma once

#include <cstdint>
#include <string_view>

#include "common/error.h"

namespace spore {

// Parses a memory size: a number with an optional binary suffix (K, M, G,
// with or without "iB"); a bare number is MiB, as in `--memory 512`.
Result<uint64_t> parse_memory_size(std::string_view text);

} // namespace spore
