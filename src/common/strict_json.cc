#include "common/strict_json.h"

#include <optional>
#include <vector>

namespace spore {
namespace {

using Json = nlohmann::json;

// Paths in messages are cut at this length, far beyond any real one.
constexpr size_t kMaxPathInMessage = 256;

// Builds the DOM from SAX events in the same pass that checks it. An
// object's keys are its map's keys, so a duplicate shows when inserting
// it; paths for messages are put together only when one is needed.
class CheckedDomBuilder final : public nlohmann::json_sax<Json> {
public:
    explicit CheckedDomBuilder(size_t max_depth)
        : m_max_depth(max_depth)
    {
    }

    Json take_root() { return std::move(m_root); }
    std::optional<Error> take_error() { return std::move(m_error); }

    bool null() override { return place(nullptr) != nullptr; }
    bool boolean(bool value) override { return place(value) != nullptr; }
    bool number_integer(number_integer_t value) override { return place(value) != nullptr; }
    bool number_unsigned(number_unsigned_t value) override { return place(value) != nullptr; }
    bool number_float(number_float_t value, const string_t&) override { return place(value) != nullptr; }
    bool string(string_t& value) override { return place(std::move(value)) != nullptr; }
    bool binary(binary_t& value) override { return place(Json::binary(std::move(value))) != nullptr; }
    bool start_object(std::size_t) override { return open(Json::object()); }
    bool start_array(std::size_t) override { return open(Json::array()); }
    bool end_object() override { return close(); }
    bool end_array() override { return close(); }

    bool key(string_t& name) override
    {
        Level& level = m_levels.back();
        auto [slot, inserted] = level.container->get_ref<Json::object_t&>().try_emplace(std::move(name));
        if (!inserted) {
            m_error = Error::invalid(
                "duplicate field " + printable(path_to(m_levels.size() - 1, slot->first), kMaxPathInMessage));
            return false;
        }
        level.key = &slot->first;
        m_pending = &slot->second;
        return true;
    }

    bool parse_error(std::size_t position, const std::string&, const Json::exception&) override
    {
        m_error = Error::invalid("malformed json at byte " + std::to_string(position));
        return false;
    }

private:
    struct Level {
        Json* container = nullptr;
        const std::string* key = nullptr; // the member being parsed, in an object
    };

    // Puts value where the document is at: the root, the next element of
    // an array, or the member whose key came last.
    Json* place(Json&& value)
    {
        if (m_levels.empty()) {
            m_root = std::move(value);
            return &m_root;
        }
        Json& container = *m_levels.back().container;
        if (container.is_array()) {
            auto& elements = container.get_ref<Json::array_t&>();
            elements.push_back(std::move(value));
            return &elements.back();
        }
        *m_pending = std::move(value);
        return m_pending;
    }

    bool open(Json&& container)
    {
        if (m_levels.size() >= m_max_depth) {
            m_error = Error::invalid("nested deeper than " + std::to_string(m_max_depth) + " levels");
            return false;
        }
        m_levels.push_back({place(std::move(container))});
        return true;
    }

    bool close()
    {
        m_levels.pop_back();
        return true;
    }

    // "a.b[2].name": the path through the first depth levels, then name.
    std::string path_to(size_t depth, std::string_view name) const
    {
        std::string path;
        for (size_t index = 0; index < depth; index++) {
            const Level& level = m_levels[index];
            if (level.container->is_array()) {
                path += "[" + std::to_string(level.container->size() - 1) + "]";
                continue;
            }
            if (!path.empty())
                path += ".";
            path += *level.key;
        }
        if (!path.empty())
            path += ".";
        return path += name;
    }

    size_t m_max_depth;
    Json m_root;
    std::vector<Level> m_levels;
    Json* m_pending = nullptr;
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
        CheckedDomBuilder builder(max_depth);
        if (!Json::sax_parse(text, &builder)) {
            auto error = builder.take_error();
            return error ? std::move(*error) : Error::invalid("malformed json");
        }
        return builder.take_root();
    } catch (const Json::exception&) {
        return Error::invalid("malformed json");
    } catch (const std::bad_alloc&) {
        return Error::invalid("too large to hold in memory");
    }
}

} // namespace spore
