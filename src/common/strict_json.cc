#include "common/strict_json.h"

#include <optional>
#include <set>
#include <vector>

namespace spore {
namespace {

using Json = nlohmann::json;

// Paths in messages are cut at this length, far beyond any real one.
constexpr size_t kMaxPathInMessage = 256;

std::string join(std::string_view path, std::string_view key)
{
    return path.empty() ? std::string(key) : std::string(path) + "." + std::string(key);
}

// Follows the SAX events, keeping each open container's path so that a
// duplicate key is named where it is.
class ShapeChecker final : public nlohmann::json_sax<Json> {
public:
    explicit ShapeChecker(size_t max_depth)
        : m_max_depth(max_depth)
    {
    }

    std::optional<Error> take_error() { return std::move(m_error); }

    bool null() override { return scalar(); }
    bool boolean(bool) override { return scalar(); }
    bool number_integer(number_integer_t) override { return scalar(); }
    bool number_unsigned(number_unsigned_t) override { return scalar(); }
    bool number_float(number_float_t, const string_t&) override { return scalar(); }
    bool string(string_t&) override { return scalar(); }
    bool binary(binary_t&) override { return scalar(); }
    bool start_object(std::size_t) override { return open(true); }
    bool start_array(std::size_t) override { return open(false); }
    bool end_object() override { return close(); }
    bool end_array() override { return close(); }

    bool key(string_t& name) override
    {
        Level& level = m_levels.back();
        if (!level.keys.insert(name).second) {
            m_error = Error::invalid(
                "duplicate field " + printable(join(level.path, name), kMaxPathInMessage));
            return false;
        }
        level.key = name;
        return true;
    }

    bool parse_error(std::size_t position, const std::string&, const Json::exception&) override
    {
        m_error = Error::invalid("malformed json at byte " + std::to_string(position));
        return false;
    }

private:
    struct Level {
        std::string path;
        bool is_object = false;
        size_t next_index = 0;
        std::string key;
        std::set<std::string, std::less<>> keys;
    };

    bool scalar()
    {
        if (!m_levels.empty() && !m_levels.back().is_object)
            m_levels.back().next_index++;
        return true;
    }

    bool open(bool is_object)
    {
        if (m_levels.size() >= m_max_depth) {
            m_error
                = Error::invalid("nested deeper than " + std::to_string(m_max_depth) + " levels");
            return false;
        }
        std::string path;
        if (!m_levels.empty()) {
            Level& parent = m_levels.back();
            path = parent.is_object ? join(parent.path, parent.key)
                                    : parent.path + "[" + std::to_string(parent.next_index++) + "]";
        }
        m_levels.push_back({std::move(path), is_object});
        return true;
    }

    bool close()
    {
        m_levels.pop_back();
        return true;
    }

    size_t m_max_depth;
    std::vector<Level> m_levels;
    std::optional<Error> m_error;
};

} // namespace

std::string printable(std::string_view text, size_t limit)
{
    std::string result;
    for (char character : text.substr(0, limit))
        result += (character >= 0x20 && character < 0x7f) ? character : '?';
    if (text.size() > limit)
        result += "...";
    return result;
}

// nlohmann reports failures by exception; none may leave this function.
Result<Json> parse_strict_json(std::string_view text, size_t max_depth)
{
    try {
        ShapeChecker checker(max_depth);
        if (!Json::sax_parse(text, &checker)) {
            auto error = checker.take_error();
            return error ? std::move(*error) : Error::invalid("malformed json");
        }
        return Json::parse(text);
    } catch (const Json::exception&) {
        return Error::invalid("malformed json");
    } catch (const std::bad_alloc&) {
        return Error::invalid("too large to hold in memory");
    }
}

} // namespace spore
