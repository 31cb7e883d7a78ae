#include "common/hex_value.h"

#include <gtest/gtest.h>

namespace spore {
namespace {

TEST(HexValue, U64RoundTripsWithFixedWidth)
{
    EXPECT_EQ(format_hex_u64(0x1234), "0x0000000000001234");
    EXPECT_EQ(parse_hex_u64("0x0000000000001234", "x0").value(), 0x1234u);
    EXPECT_EQ(parse_hex_u64(format_hex_u64(UINT64_MAX), "x0").value(), UINT64_MAX);
}

TEST(HexValue, U32HasEightDigits) { EXPECT_EQ(format_hex_u32(7), "0x00000007"); }

TEST(HexValue, WrongWidthIsRefused)
{
    EXPECT_FALSE(parse_hex_u64("0x1234", "x0").has_value());
    EXPECT_FALSE(parse_hex_u64("0x00000000000012345", "x0").has_value());
    EXPECT_FALSE(parse_hex_u32("0x0000000000000007", "w").has_value());
}

TEST(HexValue, MissingPrefixUpperCaseAndJunkAreRefused)
{
    EXPECT_FALSE(parse_hex_u64("000000000000001234", "x0").has_value());
    EXPECT_FALSE(parse_hex_u64("0x00000000000012AB", "x0").has_value());
    EXPECT_FALSE(parse_hex_u64("0x00000000000012zz", "x0").has_value());
    auto error = parse_hex_u64("", "pc");
    ASSERT_FALSE(error.has_value());
    EXPECT_NE(error.error().message().find("pc"), std::string::npos);
}

TEST(HexValue, BytesAreLittleEndianInMemoryAndBigEndianInText)
{
    std::vector<uint8_t> bytes(16, 0);
    bytes[0] = 0x01;
    bytes[15] = 0xff;
    auto text = format_hex_bytes_le(bytes);
    EXPECT_EQ(text, "0xff000000000000000000000000000001");
    EXPECT_EQ(parse_hex_bytes_le(text, 16, "v0").value(), bytes);
}

} // namespace
} // namespace spore
