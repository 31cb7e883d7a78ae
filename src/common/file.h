#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/error.h"

namespace spore {

// Reads a whole file, refusing anything larger than max_size so that a
// hostile or mistaken path cannot exhaust memory.
Result<std::vector<uint8_t>> read_file(const std::string& path, uint64_t max_size);

} // namespace spore
