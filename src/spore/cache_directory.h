#pragma once

// The per-user cache SporeVM keeps on a host: $SPOREVM_CACHE, else
// $XDG_CACHE_HOME/sporevm (when absolute), else ~/.cache/sporevm. Every
// cache in it is an accelerator: deleting it only costs time.

#include <string>
#include <string_view>

#include "common/error.h"

namespace spore {

// The path of one cache inside the per-user cache directory, e.g. "ram".
// Not created here.
Result<std::string> user_cache_directory(std::string_view name);

} // namespace spore
