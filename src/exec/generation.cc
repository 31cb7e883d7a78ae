#include "exec/generation.h"

#include <algorithm>
#include <array>
#include <limits>

#include "exec/generation_json.h"

namespace spore::exec {
namespace {

using detail::Json;

constexpr std::string_view kDocumentName = "generation parameters";

// Longest hostname label (RFC 1035).
constexpr size_t kMaxLabelLength = 63;

// The fields in the order of the specification's table.
constexpr std::array<std::string_view, 10> kFields = {"generation", "parent_generation",
    "fork_index", "fork_count", "batch_id", "vm_id", "hostname", "mac_seed", "entropy", "time_ns"};

bool is_lower_hex(std::string_view text, size_t digits)
{
    return text.size() == digits && std::all_of(text.begin(), text.end(), [](char digit) {
        return (digit >= '0' && digit <= '9') || (digit >= 'a' && digit <= 'f');
    });
}

uint8_t nibble(char digit)
{
    return static_cast<uint8_t>(digit <= '9' ? digit - '0' : digit - 'a' + 10);
}

bool is_label(std::string_view label)
{
    if (label.empty() || label.size() > kMaxLabelLength || label.front() == '-'
        || label.back() == '-')
        return false;
    return std::all_of(label.begin(), label.end(), [](char character) {
        return (character >= 'a' && character <= 'z') || (character >= 'A' && character <= 'Z')
            || (character >= '0' && character <= '9') || character == '-';
    });
}

Result<void> check_hex(
    std::string_view what, std::string_view field, const std::string& text, size_t digits)
{
    if (is_lower_hex(text, digits))
        return {};
    return Error::invalid(std::string(what) + ": " + std::string(field) + ": not "
        + std::to_string(digits) + " lower-case hex digits");
}

std::string field_prefix(std::string_view what, std::string_view field)
{
    return std::string(what) + ": " + std::string(field);
}

Result<std::string> string_field(const Json& value, std::string_view what, std::string_view field)
{
    if (!value.is_string())
        return Error::invalid(field_prefix(what, field) + ": not a string");
    return value.get_ref<const std::string&>();
}

Result<uint32_t> u32_field(const Json& value, std::string_view what, std::string_view field)
{
    uint64_t number = TRY(detail::unsigned_field(value, field_prefix(what, field)));
    if (number > std::numeric_limits<uint32_t>::max())
        return Error::invalid(field_prefix(what, field) + ": above 4294967295");
    return static_cast<uint32_t>(number);
}

Result<int64_t> time_field(const Json& value, std::string_view what)
{
    uint64_t number = TRY(detail::unsigned_field(value, field_prefix(what, "time_ns")));
    if (number > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
        return Error::invalid(field_prefix(what, "time_ns") + ": beyond the year 2262");
    return static_cast<int64_t>(number);
}

// Stores one field of the document; index is its position in kFields.
Result<void> read_field(
    GenerationParameters& parameters, size_t index, const Json& value, std::string_view what)
{
    std::string_view field = kFields[index];
    switch (index) {
    case 0:
        parameters.generation = TRY(detail::unsigned_field(value, field_prefix(what, field)));
        break;
    case 1:
        parameters.parent_generation
            = TRY(detail::unsigned_field(value, field_prefix(what, field)));
        break;
    case 2:
        parameters.fork_index = TRY(u32_field(value, what, field));
        break;
    case 3:
        parameters.fork_count = TRY(u32_field(value, what, field));
        break;
    case 4:
        parameters.batch_id = TRY(string_field(value, what, field));
        break;
    case 5:
        parameters.vm_id = TRY(string_field(value, what, field));
        break;
    case 6:
        parameters.hostname = TRY(string_field(value, what, field));
        break;
    case 7:
        parameters.mac_seed = TRY(string_field(value, what, field));
        break;
    case 8:
        parameters.entropy = TRY(string_field(value, what, field));
        break;
    default:
        parameters.time_ns = TRY(time_field(value, what));
        break;
    }
    return {};
}

} // namespace

namespace detail {

Result<GenerationParameters> generation_from_json(const Json& value, std::string_view what)
{
    if (!value.is_object())
        return Error::invalid(std::string(what) + ": not an object");
    GenerationParameters parameters;
    std::array<bool, kFields.size()> seen{};
    for (const auto& [key, field] : value.items()) {
        auto found = std::find(kFields.begin(), kFields.end(), key);
        if (found == kFields.end())
            return unknown_field(what, key);
        auto index = static_cast<size_t>(found - kFields.begin());
        TRY(read_field(parameters, index, field, what));
        seen[index] = true;
    }
    for (size_t index = 0; index < kFields.size(); index++) {
        if (!seen[index])
            return Error::invalid(
                std::string(what) + ": missing field " + std::string(kFields[index]));
    }
    TRY(validate_generation_parameters(parameters, what));
    return parameters;
}

Json generation_to_json(const GenerationParameters& parameters)
{
    return Json{
        {"generation", parameters.generation},
        {"parent_generation", parameters.parent_generation},
        {"fork_index", parameters.fork_index},
        {"fork_count", parameters.fork_count},
        {"batch_id", parameters.batch_id},
        {"vm_id", parameters.vm_id},
        {"hostname", parameters.hostname},
        {"mac_seed", parameters.mac_seed},
        {"entropy", parameters.entropy},
        {"time_ns", parameters.time_ns},
    };
}

} // namespace detail

bool is_hostname(std::string_view text)
{
    if (text.empty() || text.size() > kMaxHostnameLength)
        return false;
    while (true) {
        size_t dot = text.find('.');
        if (!is_label(text.substr(0, dot)))
            return false;
        if (dot == std::string_view::npos)
            return true;
        text.remove_prefix(dot + 1);
    }
}

Result<void> validate_generation_parameters(
    const GenerationParameters& parameters, std::string_view what)
{
    if (parameters.generation == 0)
        return Error::invalid(std::string(what) + ": generation: 0, must be at least 1");
    if (parameters.fork_count == 0)
        return Error::invalid(std::string(what) + ": fork_count: 0, must be at least 1");
    if (parameters.fork_index >= parameters.fork_count) {
        return Error::invalid(std::string(what)
            + ": fork_index: " + std::to_string(parameters.fork_index) + " is not below fork_count "
            + std::to_string(parameters.fork_count));
    }
    if (!parameters.batch_id.empty())
        TRY(check_hex(what, "batch_id", parameters.batch_id, kGenerationIdDigits));
    TRY(check_hex(what, "vm_id", parameters.vm_id, kGenerationIdDigits));
    if (!is_hostname(parameters.hostname)) {
        return Error::invalid(std::string(what)
            + ": hostname: " + detail::printable(parameters.hostname, detail::kMaxQuotedName)
            + ": not a hostname of at most " + std::to_string(kMaxHostnameLength) + " bytes");
    }
    TRY(check_hex(what, "mac_seed", parameters.mac_seed, kMacSeedDigits));
    TRY(check_hex(what, "entropy", parameters.entropy, kEntropyDigits));
    if (parameters.time_ns < 0)
        return Error::invalid(std::string(what) + ": time_ns: negative");
    return {};
}

Result<GenerationParameters> parse_generation_parameters(std::span<const uint8_t> document)
{
    std::string what(kDocumentName);
    if (document.size() > kMaxGenerationDocument) {
        return Error::invalid(what + ": " + std::to_string(document.size()) + " bytes, limit is "
            + std::to_string(kMaxGenerationDocument));
    }
    detail::JsonShape shape;
    Json value = detail::parse_json(document, shape);
    if (shape.too_deep)
        return Error::invalid(what + ": json nested too deeply");
    if (value.is_discarded())
        return Error::invalid(what + ": malformed json");
    if (shape.duplicate_key)
        return detail::duplicate_field(what, *shape.duplicate_key);
    return detail::generation_from_json(value, what);
}

Result<GenerationParameters> parse_generation_parameters(std::string_view document)
{
    return parse_generation_parameters(
        std::span(reinterpret_cast<const uint8_t*>(document.data()), document.size()));
}

std::string serialize_generation_parameters(const GenerationParameters& parameters)
{
    nlohmann::ordered_json document = nlohmann::ordered_json::object();
    Json fields = detail::generation_to_json(parameters);
    for (std::string_view field : kFields)
        document[std::string(field)] = fields[std::string(field)];
    // Replacing invalid UTF-8 keeps this infallible even for unvalidated input.
    return document.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

std::array<uint8_t, kEntropySize> generation_entropy(const GenerationParameters& parameters)
{
    std::array<uint8_t, kEntropySize> bytes{};
    for (size_t index = 0; index < kEntropySize && 2 * index + 1 < parameters.entropy.size();
         index++) {
        bytes[index] = static_cast<uint8_t>((nibble(parameters.entropy[2 * index]) << 4)
            | nibble(parameters.entropy[2 * index + 1]));
    }
    return bytes;
}

} // namespace spore::exec
