#include "spore/manifest_json.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <functional>

#include "common/sha256.h"
#include "spore/test_support.h"

namespace spore {
namespace {

using nlohmann::json;
using testing::sample_manifest;

const std::string kDigestA = "sha256:" + std::string(64, 'a');
const std::string kDigestB = "sha256:" + std::string(64, 'b');

// The sample manifest's JSON after edit changed it.
std::string edited(const std::function<void(json&)>& edit)
{
    json document = json::parse(serialize_manifest(sample_manifest({{}, {kDigestA}, {}, {}})));
    edit(document);
    return document.dump(2);
}

// The error message parse_manifest gives for text, or "" if it parses.
std::string refusal(std::string_view text)
{
    auto parsed = parse_manifest(text);
    return parsed ? "" : parsed.error().message();
}

std::string refusal(const std::function<void(json&)>& edit)
{
    return refusal(edited(edit));
}

TEST(ManifestJson, RoundTripIsByteIdentical)
{
    Manifest manifest = sample_manifest({{}, {kDigestA}, {kDigestB}, {kDigestA}});
    std::string text = serialize_manifest(manifest);
    auto parsed = parse_manifest(text);
    ASSERT_TRUE(parsed) << parsed.error().message();
    EXPECT_EQ(*parsed, manifest);
    EXPECT_EQ(serialize_manifest(*parsed), text);
}

TEST(ManifestJson, SerializedFormStartsWithSchemaAndVersionAndUsesNullForZeroChunks)
{
    std::string text = serialize_manifest(sample_manifest({{}, {kDigestA}, {}, {}}));
    EXPECT_TRUE(text.starts_with("{\n  \"schema\": \"sporevm.spore\",\n  \"version\": 1,\n"));
    EXPECT_NE(
        text.find("\"chunks\": [\n      null,\n      \"" + kDigestA + "\",\n"), std::string::npos);
    EXPECT_TRUE(text.ends_with("}\n"));
}

TEST(ManifestJson, NamedValuesAreSerializedSortedByName)
{
    std::string text = serialize_manifest(sample_manifest());
    EXPECT_LT(text.find("\"ID_AA64PFR0_EL1\""), text.find("\"MIDR_EL1\""));
}

TEST(ManifestJson, TruncatedDocumentIsRefusedAtEveryLength)
{
    std::string text = serialize_manifest(sample_manifest());
    std::string trimmed = text.substr(0, text.size() - 1); // the newline alone is whitespace
    for (size_t length = 0; length < trimmed.size(); length += 7)
        EXPECT_TRUE(refusal(trimmed.substr(0, length)).starts_with("manifest: malformed json"))
            << "length " << length;
}

TEST(ManifestJson, UnknownTopLevelFieldIsRefusedByName)
{
    EXPECT_EQ(
        refusal([](json& document) { document["extra"] = 1; }), "manifest: unknown field extra");
}

TEST(ManifestJson, UnknownNestedFieldIsRefusedByPath)
{
    EXPECT_EQ(refusal([](json& document) { document["platform"]["foo"] = 1; }),
        "manifest: unknown field platform.foo");
    EXPECT_EQ(refusal([](json& document) { document["vcpus"][1]["foo"] = true; }),
        "manifest: unknown field vcpus[1].foo");
    EXPECT_EQ(refusal([](json& document) { document["memory"]["zero"] = nullptr; }),
        "manifest: unknown field memory.zero");
}

TEST(ManifestJson, MissingFieldIsRefusedByPath)
{
    EXPECT_EQ(refusal([](json& document) { document["agent"].erase("port"); }),
        "manifest: missing field agent.port");
}

TEST(ManifestJson, UnknownVersionIsRefusedBeforeUnknownFields)
{
    EXPECT_EQ(refusal([](json& document) {
        document["version"] = 2;
        document["new_field"] = 1;
    }),
        "manifest: unsupported version 2 (this spore supports 1)");
}

TEST(ManifestJson, WrongSchemaIsRefused)
{
    EXPECT_EQ(refusal([](json& document) { document["schema"] = "other.thing"; }),
        "manifest: unsupported schema \"other.thing\" (this spore reads sporevm.spore)");
    EXPECT_EQ(refusal([](json& document) { document.erase("schema"); }),
        "manifest: missing field schema");
}

TEST(ManifestJson, WrongTypesAreRefused)
{
    EXPECT_EQ(refusal([](json& document) { document["platform"]["vcpu_count"] = "2"; }),
        "manifest: platform.vcpu_count: expected an unsigned integer");
    EXPECT_EQ(refusal([](json& document) { document["platform"]["ram_size"] = -1; }),
        "manifest: platform.ram_size: expected an unsigned integer");
    EXPECT_EQ(refusal([](json& document) { document["agent"]["port"] = 1.5; }),
        "manifest: agent.port: expected an unsigned integer");
    EXPECT_EQ(refusal([](json& document) { document["agent"]["port"] = 1ull << 32; }),
        "manifest: agent.port: 4294967296 does not fit in 32 bits");
    EXPECT_EQ(refusal([](json& document) { document["vcpus"][0]["powered_on"] = 1; }),
        "manifest: vcpus[0].powered_on: expected true or false");
    EXPECT_EQ(refusal([](json& document) { document["vcpus"][0]["registers"] = json::array(); }),
        "manifest: vcpus[0].registers: expected an object of named values");
    EXPECT_EQ(refusal([](json& document) { document["gic"]["distributor"]["GICD_CTLR"] = 18; }),
        "manifest: gic.distributor.GICD_CTLR: expected a string");
    EXPECT_EQ(refusal([](json& document) { document["memory"]["chunks"][0] = 0; }),
        "manifest: memory.chunks[0]: expected a digest or null");
    EXPECT_EQ(refusal([](json& document) { document["devices"] = json::object(); }),
        "manifest: devices: expected an array");
    EXPECT_EQ(refusal("[]"), "manifest: top level: expected an object");
}

TEST(ManifestJson, HexValuesOfFourEightAndSixteenBytesAreAccepted)
{
    EXPECT_EQ(refusal([](json& document) {
        document["vcpus"][0]["registers"]["w"] = "0x0000abcd";
        document["vcpus"][0]["registers"]["x"] = "0x00000000deadbeef";
        document["vcpus"][0]["registers"]["q"] = "0xffffffffffffffff0000000000000000";
    }),
        "");
}

TEST(ManifestJson, MalformedHexValuesAreRefused)
{
    for (const char* value : {"0x1", "0x000000000000000g", "0x00000000DEADBEEF",
             "000000000000000000", "0x000000000000000000000000", "", "0x0000000\n"}) {
        std::string message
            = refusal([&](json& document) { document["vcpus"][1]["registers"]["x1"] = value; });
        EXPECT_TRUE(message.starts_with("manifest: ")) << value;
        EXPECT_NE(message.find("vcpus[1].registers.x1"), std::string::npos) << message;
    }
}

TEST(ManifestJson, MalformedDigestsAreRefused)
{
    std::string upper = "sha256:" + std::string(64, 'A');
    std::string short_hex = "sha256:" + std::string(63, 'a');
    std::string other = "sha512:" + std::string(64, 'a');
    for (const std::string& digest : {upper, short_hex, other, std::string(64, 'a')}) {
        EXPECT_TRUE(refusal([&](json& document) {
            document["memory"]["chunks"][2] = digest;
        }).starts_with("manifest: memory.chunks[2]: expected sha256:"))
            << digest;
    }
}

TEST(ManifestJson, VcpuCountsMustAgree)
{
    EXPECT_EQ(refusal([](json& document) { document["platform"]["vcpu_count"] = 1; }),
        "manifest: vcpus: 2 entries but platform.vcpu_count is 1");
    EXPECT_EQ(refusal([](json& document) { document["gic"]["redistributors"].erase(1); }),
        "manifest: gic.redistributors: 1 entries but platform.vcpu_count is 2");
    EXPECT_EQ(refusal([](json& document) {
        document["gic"]["cpu_interfaces"].push_back(json::object());
    }),
        "manifest: gic.cpu_interfaces: 3 entries but platform.vcpu_count is 2");
    EXPECT_EQ(
        refusal([](json& document) { std::swap(document["vcpus"][0], document["vcpus"][1]); }),
        "manifest: vcpus[0].index: expected 0");
}

TEST(ManifestJson, MoreThanEightVcpusAreRefused)
{
    std::string message = refusal([](json& document) {
        document["platform"]["vcpu_count"] = 9;
        for (int index = 2; index < 9; index++) {
            document["vcpus"].push_back(
                {{"index", index}, {"powered_on", false}, {"registers", json::object()}});
            document["gic"]["redistributors"].push_back(json::object());
            document["gic"]["cpu_interfaces"].push_back(json::object());
        }
    });
    EXPECT_EQ(message, "manifest: platform.vcpu_count: must be 1 to 8");
}

TEST(ManifestJson, ChunkLayoutMustMatchRamSize)
{
    EXPECT_EQ(refusal([](json& document) { document["memory"]["chunks"].push_back(nullptr); }),
        "manifest: memory.chunks: 5 entries but ram_size / chunk_size is 4");
    EXPECT_EQ(refusal([](json& document) { document["platform"]["ram_size"] = (4 << 16) + 4096; }),
        "manifest: memory.chunk_size: does not divide platform.ram_size");
    EXPECT_EQ(refusal([](json& document) { document["platform"]["ram_size"] = 0; }),
        "manifest: platform.ram_size: must not be zero");
}

TEST(ManifestJson, ChunkSizeMustBeAPowerOfTwoWithinLimits)
{
    for (uint64_t size :
        {uint64_t{0}, uint64_t{32} << 10, uint64_t{96} << 10, uint64_t{128} << 20}) {
        std::string message
            = refusal([&](json& document) { document["memory"]["chunk_size"] = size; });
        EXPECT_TRUE(message.starts_with("manifest: memory.chunk_size: ")) << message;
    }
}

TEST(ManifestJson, NamesAreBounded)
{
    auto with_register = [](const std::string& name) {
        return refusal(
            [&](json& document) { document["vcpus"][0]["registers"][name] = "0x00000000"; });
    };
    EXPECT_EQ(with_register(std::string(128, 'r')), "");
    EXPECT_NE(
        with_register(std::string(129, 'r')).find("longer than 128 characters"), std::string::npos);
    EXPECT_NE(with_register("").find("empty name"), std::string::npos);
    EXPECT_NE(with_register("x\x1b[2J").find("not printable ascii"), std::string::npos);
    EXPECT_EQ(refusal([](json& document) { document["devices"][0]["slot"] = ""; }),
        "manifest: devices[0].slot: empty name");
}

TEST(ManifestJson, NamedValueMapsAreBounded)
{
    std::string message = refusal([](json& document) {
        for (int index = 0; index < 1025; index++)
            document["gic"]["distributor"]["R" + std::to_string(index)] = "0x00000000";
    });
    EXPECT_EQ(message, "manifest: gic.distributor: 1026 entries, limit is 1024");
}

TEST(ManifestJson, CreatedAtIsBounded)
{
    EXPECT_EQ(refusal([](json& document) { document["created_at"] = ""; }),
        "manifest: created_at: must be 1 to 64 characters");
    EXPECT_EQ(refusal([](json& document) { document["created_at"] = std::string(65, '1'); }),
        "manifest: created_at: must be 1 to 64 characters");
}

TEST(ManifestJson, DuplicateSlotsAndSessionsAreRefused)
{
    EXPECT_EQ(refusal([](json& document) { document["devices"][1]["slot"] = "console"; }),
        "manifest: devices[1].slot: slot \"console\" appears twice");
    EXPECT_EQ(refusal([](json& document) {
        document["running_sessions"].push_back(document["running_sessions"][0]);
    }),
        "manifest: running_sessions[1].session_id: session id appears twice");
}

TEST(ManifestJson, DuplicateKeysAreRefusedByPath)
{
    std::string text = edited([](json&) {});
    size_t position = text.find("\"port\"");
    text.insert(position, "\"port\": 7, ");
    EXPECT_EQ(refusal(text), "manifest: duplicate field agent.port");
}

TEST(ManifestJson, DeepNestingIsRefusedBeforeBuildingATree)
{
    std::string deep = std::string(100000, '[') + std::string(100000, ']');
    EXPECT_EQ(refusal(deep), "manifest: nested deeper than 8 levels");
}

TEST(ManifestJson, OversizeInputIsRefusedBeforeParsing)
{
    std::string huge(kMaxManifestSize + 1, ' ');
    EXPECT_EQ(refusal(huge), "manifest: 16777217 bytes, limit is 16777216");
}

TEST(ManifestJson, TrailingGarbageAndCommentsAreRefused)
{
    std::string text = serialize_manifest(sample_manifest());
    EXPECT_TRUE(refusal(text + "x").starts_with("manifest: malformed json"));
    EXPECT_TRUE(refusal("// comment\n" + text).starts_with("manifest: malformed json"));
}

TEST(ManifestJson, ValidateRefusesWhatParseWouldRefuse)
{
    Manifest manifest = sample_manifest();
    manifest.vcpus[1].registers["x9"] = "0x12";
    auto result = validate_manifest(manifest);
    ASSERT_FALSE(result);
    EXPECT_NE(result.error().message().find("vcpus[1].registers.x9"), std::string::npos);
}

TEST(ManifestJson, SerializationIsWhatAGenericTwoSpaceDumpGives)
{
    Manifest bare = sample_manifest();
    bare.running_sessions.clear();
    bare.devices.clear();
    bare.identity.batch_id = std::string(32, '9');
    for (const Manifest& manifest : {sample_manifest({{}, {kDigestA}, {}, {kDigestB}}), bare}) {
        std::string text = serialize_manifest(manifest);
        EXPECT_EQ(nlohmann::ordered_json::parse(text).dump(2) + "\n", text);
    }
}

TEST(ManifestJson, IdentityIsTheLastField)
{
    std::string text = serialize_manifest(sample_manifest());
    EXPECT_TRUE(text.ends_with("  \"identity\": {\n"
                               "    \"generation\": 3,\n"
                               "    \"parent_generation\": 2,\n"
                               "    \"fork_index\": 0,\n"
                               "    \"fork_count\": 1,\n"
                               "    \"batch_id\": \"\",\n"
                               "    \"vm_id\": \"0123456789abcdef0123456789abcdef\",\n"
                               "    \"hostname\": \"spore-0123456789ab\",\n"
                               "    \"mac_seed\": \"02aabbccddee\"\n"
                               "  }\n"
                               "}\n"))
        << text;
}

TEST(ManifestJson, SerializerSplicesAnyIdentityIntoTheCanonicalText)
{
    Manifest manifest = sample_manifest({{kDigestA}, {}, {}, {}});
    ManifestSerializer serializer(manifest);
    Manifest other = manifest;
    other.identity = {9, 8, 41, 42, std::string(32, 'e'), std::string(32, 'f'),
        "spore-ffffffffffff", "ffffffffffff"};
    EXPECT_EQ(serializer.serialize(other.identity), serialize_manifest(other));
    EXPECT_EQ(serializer.prefix() + ManifestSerializer::identity_text(manifest.identity),
        serialize_manifest(manifest));
    auto parsed = parse_manifest(serializer.serialize(other.identity));
    ASSERT_TRUE(parsed) << parsed.error().message();
    EXPECT_EQ(*parsed, other);
}

TEST(ManifestJson, IdentityFieldsAreExact)
{
    EXPECT_EQ(refusal([](json& document) { document["identity"]["extra"] = 1; }),
        "manifest: unknown field identity.extra");
    EXPECT_EQ(refusal([](json& document) { document["identity"].erase("mac_seed"); }),
        "manifest: missing field identity.mac_seed");
    EXPECT_EQ(refusal([](json& document) { document.erase("identity"); }),
        "manifest: missing field identity");
    EXPECT_EQ(refusal([](json& document) { document["identity"] = json::array(); }),
        "manifest: identity: expected an object");
    EXPECT_EQ(refusal([](json& document) { document["identity"]["fork_index"] = 1ull << 32; }),
        "manifest: identity.fork_index: 4294967296 does not fit in 32 bits");
    EXPECT_EQ(refusal([](json& document) { document["identity"]["vm_id"] = 5; }),
        "manifest: identity.vm_id: expected a string");
}

TEST(ManifestJson, IdentityNumbersAreChecked)
{
    auto with = [](const char* field, uint64_t value) {
        return refusal([&](json& document) { document["identity"][field] = value; });
    };
    EXPECT_EQ(with("generation", 0), "manifest: identity.generation: must be at least 1");
    EXPECT_EQ(with("parent_generation", 3),
        "manifest: identity.parent_generation: 3 is not below generation 3");
    EXPECT_EQ(with("fork_count", 0), "manifest: identity.fork_count: must be 1 to 1000000");
    EXPECT_EQ(with("fork_count", 1000001), "manifest: identity.fork_count: must be 1 to 1000000");
    EXPECT_EQ(with("fork_index", 1), "manifest: identity.fork_index: 1 is not below fork_count 1");
    EXPECT_EQ(refusal([](json& document) {
        document["identity"]["fork_count"] = 1000000;
        document["identity"]["fork_index"] = 999999;
        document["identity"]["generation"] = UINT64_MAX;
    }),
        "");
}

TEST(ManifestJson, IdentityStringsAreChecked)
{
    auto with = [](const char* field, const std::string& value) {
        return refusal([&](json& document) { document["identity"][field] = value; });
    };
    EXPECT_EQ(with("batch_id", std::string(32, 'a')), "");
    EXPECT_EQ(with("batch_id", std::string(31, 'a')),
        "manifest: identity.batch_id: expected 32 lower-case hex digits, got \""
            + std::string(31, 'a') + "\"");
    EXPECT_NE(with("batch_id", std::string(32, 'A')), "");
    EXPECT_NE(with("vm_id", ""), "");
    EXPECT_NE(with("vm_id", std::string(32, 'g')), "");
    EXPECT_NE(with("vm_id", std::string(34, 'a')), "");
    EXPECT_EQ(with("mac_seed", "0123456789ab"), "");
    EXPECT_NE(with("mac_seed", "0123456789aB"), "");
    EXPECT_NE(with("mac_seed", "0123456789a"), "");

    for (const std::string& good : {std::string("a"), std::string("web-01"), std::string(63, 'x')})
        EXPECT_EQ(with("hostname", good), "") << good;
    for (const std::string& bad :
        {std::string(""), std::string("-web"), std::string("web-"), std::string("Web"),
            std::string("web.example"), std::string("web_1"), std::string(64, 'x'),
            std::string("w\xc3\xa9"
                        "b")}) {
        EXPECT_TRUE(with("hostname", bad).starts_with("manifest: identity.hostname: ")) << bad;
    }
}

TEST(MemoryDigest, IsTheHashOfTheCanonicalText)
{
    MemoryIndex index{testing::kTestChunkSize, {{}, {kDigestA}}};
    std::string text = "65536\nzero\n" + kDigestA + "\n";
    std::string expected
        = "sha256:" + to_hex(sha256({reinterpret_cast<const uint8_t*>(text.data()), text.size()}));
    EXPECT_EQ(memory_digest(index), expected);
}

TEST(MemoryDigest, DependsOnChunkSizeOrderAndZeroChunks)
{
    MemoryIndex index{testing::kTestChunkSize, {{}, {kDigestA}}};
    MemoryIndex swapped{testing::kTestChunkSize, {{kDigestA}, {}}};
    MemoryIndex larger{testing::kTestChunkSize * 2, {{}, {kDigestA}}};
    EXPECT_NE(memory_digest(index), memory_digest(swapped));
    EXPECT_NE(memory_digest(index), memory_digest(larger));
    EXPECT_EQ(memory_digest(index), memory_digest(MemoryIndex(index)));
}

} // namespace
} // namespace spore
