#include "virtio/field_reader.h"

#include <cinttypes>
#include <cstdio>

#include "common/hex_value.h"

namespace spore {

namespace {

// Enough of a bad value to recognize it; a hostile manifest could hold megabytes.
constexpr size_t kQuotedValueLimit = 40;

} // namespace

FieldReader::FieldReader(const NamedValues& values, std::string kind)
    : m_values(values)
    , m_kind(std::move(kind))
{
}

Result<std::string> FieldReader::take(const std::string& name)
{
    m_asked.insert(name);
    auto found = m_values.find(name);
    if (found == m_values.end())
        return error(name, "missing");
    return found->second;
}

Result<uint32_t> FieldReader::u32(const std::string& name, uint32_t max)
{
    auto text = TRY(take(name));
    auto value = parse_hex_u32(text, name);
    if (!value)
        return malformed(name, text, 32);
    if (*value > max) {
        char message[64];
        std::snprintf(message, sizeof message, "0x%08" PRIx32 ": above 0x%" PRIx32, *value, max);
        return error(name, message);
    }
    return *value;
}

Result<uint64_t> FieldReader::u64(const std::string& name)
{
    auto text = TRY(take(name));
    auto value = parse_hex_u64(text, name);
    if (!value)
        return malformed(name, text, 64);
    return *value;
}

Result<void> FieldReader::finish() const
{
    for (const auto& [name, value] : m_values) {
        if (!m_asked.contains(name))
            return error(name, "unknown");
    }
    return {};
}

Error FieldReader::error(const std::string& name, const std::string& cause) const
{
    // Names come from the manifest too: bound them like values.
    return Error::invalid(m_kind + " " + name.substr(0, kQuotedValueLimit) + ": " + cause);
}

Error FieldReader::malformed(const std::string& name, const std::string& text, int bits) const
{
    return error(name,
        "\"" + text.substr(0, kQuotedValueLimit) + "\": not a " + std::to_string(bits)
            + "-bit value (0x and " + std::to_string(bits / 4) + " lower-case hex digits)");
}

} // namespace spore
