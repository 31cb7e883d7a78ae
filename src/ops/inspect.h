#pragma once

#include <string>

#include "common/error.h"

namespace spore {

// `spore inspect DIR`: a summary of a spore, for people or (json) for
// machines. Reading the spore checks its manifest strictly and that every
// stored chunk is present with the right size.
Result<std::string> inspect_spore(const std::string& path, bool json);

} // namespace spore
