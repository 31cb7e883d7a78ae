#include "exec/generation.h"

#include <gtest/gtest.h>

#include <string>

namespace spore::exec {
namespace {

std::span<const uint8_t> bytes_of(std::string_view text)
{
    return {reinterpret_cast<const uint8_t*>(text.data()), text.size()};
}

GenerationParameters sample()
{
    return {7, 6, 2, 4, "0123456789abcdef0123456789abcdef", "fedcba9876543210fedcba9876543210",
        "spore-fedcba987654", "0a1b2c3d4e5f",
        "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff",
        1'754'000'000'123'456'789};
}

constexpr std::string_view kSampleJson
    = R"({"generation":7,"parent_generation":6,"fork_index":2,"fork_count":4,)"
      R"("batch_id":"0123456789abcdef0123456789abcdef","vm_id":"fedcba9876543210fedcba9876543210",)"
      R"("hostname":"spore-fedcba987654","mac_seed":"0a1b2c3d4e5f",)"
      R"("entropy":"00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff",)"
      R"("time_ns":1754000000123456789})";

// The sample document with one field's value text replaced, or the field
// removed when value is empty.
std::string with_field(std::string_view field, std::string_view value)
{
    std::string text(kSampleJson);
    std::string key = "\"" + std::string(field) + "\":";
    size_t start = text.find(key);
    size_t end = text.find_first_of(",}",
        text[start + key.size()] == '"' ? text.find('"', start + key.size() + 1)
                                        : start + key.size());
    if (value.empty()) {
        size_t erase_end = text[end] == ',' ? end + 1 : end;
        size_t erase_start = text[end] == ',' ? start : start - 1;
        text.erase(erase_start, erase_end - erase_start);
    } else {
        text.replace(start + key.size(), end - start - key.size(), value);
    }
    return text;
}

std::string refusal(std::string_view text)
{
    auto parsed = parse_generation_parameters(bytes_of(text));
    EXPECT_FALSE(parsed.has_value()) << text;
    return parsed.has_value() ? "" : parsed.error().message();
}

TEST(GenerationParameters, DocumentParsesToItsFields)
{
    auto parsed = parse_generation_parameters(bytes_of(kSampleJson));
    ASSERT_TRUE(parsed.has_value()) << parsed.error().message();
    EXPECT_EQ(*parsed, sample());
}

TEST(GenerationParameters, SerializesCompactInTheSpecificationsOrder)
{
    EXPECT_EQ(serialize_generation_parameters(sample()), kSampleJson);
    auto text = serialize_generation_parameters(sample());
    auto parsed = parse_generation_parameters(bytes_of(text));
    ASSERT_TRUE(parsed.has_value());
    EXPECT_EQ(*parsed, sample());
}

TEST(GenerationParameters, WhitespaceAndFieldOrderDoNotMatter)
{
    std::string text = R"({ "time_ns" : 1754000000123456789, "entropy":
        "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff", "mac_seed": "0a1b2c3d4e5f",
        "hostname": "spore-fedcba987654", "vm_id": "fedcba9876543210fedcba9876543210",
        "batch_id": "0123456789abcdef0123456789abcdef", "fork_count": 4, "fork_index": 2,
        "parent_generation": 6, "generation": 7 }
)";
    auto parsed = parse_generation_parameters(bytes_of(text));
    ASSERT_TRUE(parsed.has_value()) << parsed.error().message();
    EXPECT_EQ(*parsed, sample());
}

TEST(GenerationParameters, OutsideAForkTheBatchIdIsEmpty)
{
    auto parsed = parse_generation_parameters(bytes_of(with_field("batch_id", R"("")")));
    ASSERT_TRUE(parsed.has_value()) << parsed.error().message();
    EXPECT_EQ(parsed->batch_id, "");
}

TEST(GenerationParameters, EveryFieldIsRequired)
{
    for (std::string_view field : {"generation", "parent_generation", "fork_index", "fork_count",
             "batch_id", "vm_id", "hostname", "mac_seed", "entropy", "time_ns"}) {
        EXPECT_EQ(refusal(with_field(field, "")),
            "generation parameters: missing field " + std::string(field));
    }
}

TEST(GenerationParameters, UnknownAndDuplicateFieldsAreRefused)
{
    std::string extra(kSampleJson);
    extra.insert(1, R"("ip":"10.0.0.2",)");
    EXPECT_EQ(refusal(extra), "generation parameters: unknown field ip");
    std::string twice(kSampleJson);
    twice.insert(1, R"("generation":8,)");
    EXPECT_EQ(refusal(twice), "generation parameters: duplicate field generation");
}

TEST(GenerationParameters, FieldsMustHaveTheirTypes)
{
    EXPECT_EQ(refusal(with_field("generation", R"("7")")),
        "generation parameters: generation: not an unsigned integer");
    EXPECT_EQ(
        refusal(with_field("hostname", "7")), "generation parameters: hostname: not a string");
    for (std::string_view bad : {"-1", "1.0", "null", "true", "[1]", "{}"})
        refusal(with_field("fork_count", bad));
    refusal(with_field("vm_id", "null"));
}

TEST(GenerationParameters, NumbersAreBounded)
{
    EXPECT_EQ(refusal(with_field("generation", "0")),
        "generation parameters: generation: 0, must be at least 1");
    EXPECT_TRUE(
        parse_generation_parameters(bytes_of(with_field("generation", "18446744073709551615"))));
    refusal(with_field("generation", "18446744073709551616"));
    EXPECT_EQ(refusal(with_field("fork_count", "0")),
        "generation parameters: fork_count: 0, must be at least 1");
    EXPECT_EQ(refusal(with_field("fork_index", "4")),
        "generation parameters: fork_index: 4 is not below fork_count 4");
    EXPECT_EQ(refusal(with_field("fork_count", "4294967296")),
        "generation parameters: fork_count: above 4294967295");
    EXPECT_TRUE(
        parse_generation_parameters(bytes_of(with_field("time_ns", "9223372036854775807"))));
    EXPECT_EQ(refusal(with_field("time_ns", "9223372036854775808")),
        "generation parameters: time_ns: beyond the year 2262");
}

TEST(GenerationParameters, HexFieldsHaveExactLengthsOfLowerCaseDigits)
{
    std::string vm_id = "fedcba9876543210fedcba9876543210";
    EXPECT_EQ(refusal(with_field("vm_id", "\"" + vm_id.substr(1) + "\"")),
        "generation parameters: vm_id: not 32 lower-case hex digits");
    refusal(with_field("vm_id", "\"" + vm_id + "0\""));
    refusal(with_field("vm_id", R"("FEDCBA9876543210FEDCBA9876543210")"));
    refusal(with_field("vm_id", R"("")"));
    refusal(with_field("batch_id", R"("0123456789abcdef0123456789abcdeg")"));
    refusal(with_field("mac_seed", R"("0a1b2c3d4e5f0")"));
    EXPECT_EQ(refusal(with_field("entropy", R"("0011")")),
        "generation parameters: entropy: not 64 lower-case hex digits");
}

TEST(GenerationParameters, HostnameMustBeAValidHostname)
{
    EXPECT_TRUE(is_hostname(std::string(63, 'a')));
    EXPECT_TRUE(is_hostname(std::string(31, 'a') + "." + std::string(32, 'a')));
    EXPECT_TRUE(is_hostname("Spore-1.example-2.test"));
    EXPECT_TRUE(is_hostname("0"));
    for (std::string_view bad :
        {"", "-spore", "spore-", "spo_re", "spore.", ".spore", "a..b", "sp ore", "spöre", "a/b"}) {
        EXPECT_FALSE(is_hostname(bad)) << bad;
    }
    EXPECT_FALSE(is_hostname(std::string(64, 'a'))); // one label of 64
    EXPECT_FALSE(is_hostname(std::string(32, 'a') + "." + std::string(32, 'a'))); // 65 bytes

    EXPECT_EQ(refusal(with_field("hostname", R"("bad_name")")),
        "generation parameters: hostname: bad_name: not a hostname of at most 64 bytes");
}

TEST(GenerationParameters, MalformedDocumentsAreRefused)
{
    EXPECT_EQ(refusal("[]"), "generation parameters: not an object");
    EXPECT_EQ(refusal(""), "generation parameters: malformed json");
    EXPECT_EQ(refusal(std::string(kSampleJson) + "x"), "generation parameters: malformed json");
    EXPECT_EQ(
        refusal(R"({"a":[[[[[[[[[]]]]]]]]]})"), "generation parameters: json nested too deeply");
    std::string nul(kSampleJson);
    nul.push_back('\0');
    EXPECT_EQ(refusal(nul), "generation parameters: malformed json");
    nul += R"({"x":1})";
    refusal(nul);
}

TEST(GenerationParameters, DocumentsBeyondThePageSizeAreRefused)
{
    std::string padded(kSampleJson);
    padded.insert(1, kMaxGenerationDocument - padded.size(), ' ');
    EXPECT_TRUE(parse_generation_parameters(bytes_of(padded)).has_value());
    padded.insert(1, " ");
    EXPECT_EQ(refusal(padded), "generation parameters: 4097 bytes, limit is 4096");
}

TEST(GenerationParameters, EntropyDecodesToItsBytes)
{
    auto entropy = generation_entropy(sample());
    EXPECT_EQ(entropy[0], 0x00);
    EXPECT_EQ(entropy[1], 0x11);
    EXPECT_EQ(entropy[15], 0xff);
    EXPECT_EQ(entropy[31], 0xff);
}

TEST(GenerationParameters, ValidationNamesItsContext)
{
    auto parameters = sample();
    parameters.time_ns = -1;
    auto checked = validate_generation_parameters(parameters, "exec request: params.generation");
    ASSERT_FALSE(checked.has_value());
    EXPECT_EQ(checked.error().message(), "exec request: params.generation: time_ns: negative");
    EXPECT_TRUE(validate_generation_parameters(sample()).has_value());
    EXPECT_FALSE(validate_generation_parameters(GenerationParameters{}).has_value());
}

} // namespace
} // namespace spore::exec
