#include "common/hex_value.h"

namespace spore {

namespace {

constexpr char digits[] = "0123456789abcdef";

int digit_value(char character)
{
    if (character >= '0' && character <= '9')
        return character - '0';
    if (character >= 'a' && character <= 'f')
        return character - 'a' + 10;
    return -1;
}

Error malformed(std::string_view name, std::string_view text, size_t width)
{
    return Error::invalid("value of " + std::string(name) + ": expected 0x and " + std::to_string(width * 2) +
                          " lower-case hex digits, got \"" + std::string(text.substr(0, 80)) + "\"");
}

} // namespace

std::string format_hex_bytes_le(std::span<const uint8_t> bytes)
{
    std::string text = "0x";
    for (size_t index = bytes.size(); index-- > 0;) {
        text.push_back(digits[bytes[index] >> 4]);
        text.push_back(digits[bytes[index] & 0xf]);
    }
    return text;
}

std::string format_hex_u64(uint64_t value)
{
    return format_hex_bytes_le(std::span(reinterpret_cast<const uint8_t*>(&value), sizeof value));
}

std::string format_hex_u32(uint32_t value)
{
    return format_hex_bytes_le(std::span(reinterpret_cast<const uint8_t*>(&value), sizeof value));
}

Result<std::vector<uint8_t>> parse_hex_bytes_le(std::string_view text, size_t width, std::string_view name)
{
    if (text.size() != 2 + width * 2 || !text.starts_with("0x"))
        return malformed(name, text, width);
    std::vector<uint8_t> bytes(width);
    for (size_t index = 0; index < width; index++) {
        int high = digit_value(text[2 + index * 2]);
        int low = digit_value(text[3 + index * 2]);
        if (high < 0 || low < 0)
            return malformed(name, text, width);
        bytes[width - 1 - index] = static_cast<uint8_t>(high << 4 | low);
    }
    return bytes;
}

Result<uint64_t> parse_hex_u64(std::string_view text, std::string_view name)
{
    auto bytes = TRY(parse_hex_bytes_le(text, 8, name));
    uint64_t value = 0;
    for (size_t index = 8; index-- > 0;)
        value = value << 8 | bytes[index];
    return value;
}

Result<uint32_t> parse_hex_u32(std::string_view text, std::string_view name)
{
    auto bytes = TRY(parse_hex_bytes_le(text, 4, name));
    uint32_t value = 0;
    for (size_t index = 4; index-- > 0;)
        value = value << 8 | bytes[index];
    return value;
}

} // namespace spore
