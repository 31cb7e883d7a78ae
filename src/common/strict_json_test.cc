#include "common/strict_json.h"

#include <gtest/gtest.h>

namespace spore {
namespace {

std::string refusal(std::string_view text, size_t depth = 8)
{
    auto parsed = parse_strict_json(text, depth);
    return parsed ? std::string("accepted") : parsed.error().message();
}

TEST(StrictJson, AWellFormedDocumentParses)
{
    auto parsed = parse_strict_json(R"({"a":[1,{"b":true}],"c":"d"})", 8);
    ASSERT_TRUE(parsed);
    EXPECT_EQ((*parsed)["a"][1]["b"], true);
}

TEST(StrictJson, BuildsTheSameTreeAsAPlainParse)
{
    const char* text = R"({"n":null,"t":true,"f":false,"i":-12,"u":18446744073709551615,"d":2.5e-3,
        "s":"a\u00e9\n","e":{},"ea":[],"a":[[1,[2,{}]],{"x":[{"y":{"z":[null]}}]},"w"],
        "o":{"k":{"k":{"k":1}},"l":[{},{"m":0}]}})";
    auto parsed = parse_strict_json(text, 8);
    ASSERT_TRUE(parsed);
    EXPECT_EQ(*parsed, nlohmann::json::parse(text));
    EXPECT_EQ(parse_strict_json("[1,2]", 8).value(), nlohmann::json::parse("[1,2]"));
    EXPECT_EQ(parse_strict_json(" 7 ", 8).value(), nlohmann::json(7));
}

TEST(StrictJson, ADuplicateKeyIsNamedByItsPath)
{
    EXPECT_EQ(refusal(R"({"a":1,"a":2})"), "duplicate field a");
    EXPECT_EQ(refusal(R"({"x":[0,{"k":1},{"k":1,"k":2}]})"), "duplicate field x[2].k");
    EXPECT_EQ(refusal(R"({"x":{"y":{"z":1,"z":1}}})"), "duplicate field x.y.z");
    EXPECT_EQ(refusal(R"([{"a":1},{"b":[{},{"c":1,"c":1}]}])"), "duplicate field [1].b[1].c");
    EXPECT_EQ(refusal(R"({"a":{"b":1},"a":{"b":1}})"), "duplicate field a");
}

TEST(StrictJson, NestingBeyondTheLimitIsRefused)
{
    EXPECT_EQ(refusal("[[[]]]", 3), "accepted");
    EXPECT_EQ(refusal("[[[[]]]]", 3), "nested deeper than 3 levels");
    EXPECT_EQ(refusal(std::string(100000, '['), 8), "nested deeper than 8 levels");
}

TEST(StrictJson, MalformedTextIsRefusedWithItsPosition)
{
    EXPECT_EQ(refusal(R"({"a":})"), "malformed json at byte 6");
    EXPECT_EQ(refusal(R"({} {})"), "malformed json at byte 4");
    EXPECT_EQ(refusal(""), "malformed json at byte 1");
}

TEST(Printable, UnprintableBytesAreReplacedAndLongTextIsCut)
{
    EXPECT_EQ(printable("a\nb\x1b", 10), "a?b?");
    EXPECT_EQ(printable("abcdef", 3), "abc...");
}

} // namespace
} // namespace spore
