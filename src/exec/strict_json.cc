#include "exec/strict_json.h"

#include <algorithm>
#include <set>
#include <vector>

namespace spore::exec::detail {

Json parse_json(std::span<const uint8_t> payload, JsonShape& shape)
{
    // The parser takes a nul byte for the end of its input and would ignore
    // whatever follows; valid JSON text never holds one.
    if (std::find(payload.begin(), payload.end(), uint8_t{0}) != payload.end())
        return Json(Json::value_t::discarded);
    std::vector<std::set<std::string>> open_objects;
    auto callback = [&](int depth, Json::parse_event_t event, Json& parsed) {
        bool opens = event == Json::parse_event_t::object_start
            || event == Json::parse_event_t::array_start;
        if (opens && depth >= kMaxJsonDepth) {
            shape.too_deep = true;
            return false;
        }
        if (event == Json::parse_event_t::object_start)
            open_objects.emplace_back();
        else if (event == Json::parse_event_t::object_end && !open_objects.empty())
            open_objects.pop_back();
        else if (event == Json::parse_event_t::key && !open_objects.empty()) {
            const auto& key = parsed.get_ref<const std::string&>();
            if (!open_objects.back().insert(key).second && !shape.duplicate_key)
                shape.duplicate_key = key;
        }
        return true;
    };
    return Json::parse(payload.begin(), payload.end(), callback, false);
}

std::string printable(std::string_view text, size_t limit)
{
    std::string result;
    for (char character : text.substr(0, limit))
        result += (character >= 0x20 && character < 0x7f) ? character : '?';
    return result;
}

Error unknown_field(std::string_view what, std::string_view key)
{
    return Error::invalid(std::string(what) + ": unknown field " + printable(key, kMaxQuotedName));
}

Error duplicate_field(std::string_view what, std::string_view key)
{
    return Error::invalid(
        std::string(what) + ": duplicate field " + printable(key, kMaxQuotedName));
}

Result<uint64_t> unsigned_field(const Json& value, std::string_view what)
{
    if (!value.is_number_unsigned())
        return Error::invalid(std::string(what) + ": not an unsigned integer");
    return value.get<uint64_t>();
}

} // namespace spore::exec::detail
