#include "cli/size.h"

#include <charconv>
#include <string>

namespace spore {

Result<uint64_t> parse_memory_size(std::string_view text)
{
    uint64_t number = 0;
    auto [rest, error] = std::from_chars(text.data(), text.data() + text.size(), number);
    if (error != std::errc() || rest == text.data())
        return Error::invalid("memory size: not a number: " + std::string(text));

    std::string_view suffix(rest, static_cast<size_t>(text.data() + text.size() - rest));
    unsigned shift;
    if (suffix.empty() || suffix == "M" || suffix == "MiB")
        shift = 20;
    else if (suffix == "G" || suffix == "GiB")
        shift = 30;
    else if (suffix == "K" || suffix == "KiB")
        shift = 10;
    else
        return Error::invalid("memory size: unknown unit: " + std::string(suffix));

    if (number > (UINT64_MAX >> shift))
        return Error::invalid("memory size: too large: " + std::string(text));
    return number << shift;
}

} // namespace spore
