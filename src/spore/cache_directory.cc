#include "spore/cache_directory.h"

#include <cstdlib>

namespace spore {

Result<std::string> user_cache_directory(std::string_view name)
{
    const char* cache = std::getenv("SPOREVM_CACHE");
    if (cache && cache[0] != '\0')
        return std::string(cache) + "/" + std::string(name);
    const char* xdg = std::getenv("XDG_CACHE_HOME");
    if (xdg && xdg[0] == '/')
        return std::string(xdg) + "/sporevm/" + std::string(name);
    const char* home = std::getenv("HOME");
    if (!home || home[0] == '\0')
        return Error::not_found("cache directory: HOME is not set");
    return std::string(home) + "/.cache/sporevm/" + std::string(name);
}

} // namespace spore
