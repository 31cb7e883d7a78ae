#include "spore/identity.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <array>

#include "spore/manifest_json.h"

namespace spore {
namespace {

TEST(Identity, NewIdentityIsAValidColdBootIdentity)
{
    Identity identity = new_identity();
    EXPECT_EQ(identity.generation, 1u);
    EXPECT_EQ(identity.parent_generation, 0u);
    EXPECT_EQ(identity.fork_index, 0u);
    EXPECT_EQ(identity.fork_count, 1u);
    EXPECT_EQ(identity.batch_id, "");
    EXPECT_EQ(identity.vm_id.size(), 32u);
    EXPECT_EQ(identity.mac_seed.size(), 12u);
    EXPECT_EQ(identity.hostname, "spore-" + identity.vm_id.substr(0, 12));
    auto valid = validate_identity(identity);
    EXPECT_TRUE(valid) << valid.error().message();
}

TEST(Identity, NewIdentitiesDiffer)
{
    Identity first = new_identity();
    Identity second = new_identity();
    EXPECT_NE(first.vm_id, second.vm_id);
    EXPECT_NE(first.mac_seed, second.mac_seed);
    EXPECT_NE(first.hostname, second.hostname);
}

TEST(Identity, HostnameTakesTwelveDigitsOfTheVmId)
{
    EXPECT_EQ(hostname_for("0123456789abcdef0123456789abcdef"), "spore-0123456789ab");
}

TEST(GenerationParameters, HoldExactlyTheSpecifiedFieldsInOrder)
{
    Identity identity{7, 6, 2, 5, std::string(32, 'b'), std::string(32, 'c'), "spore-cccccccccccc",
        "0200000000aa"};
    std::array<uint8_t, 32> entropy{};
    for (size_t index = 0; index < entropy.size(); index++)
        entropy[index] = static_cast<uint8_t>(index);
    std::string text = generation_parameters_json(identity, entropy, 1700000000123456789);
    EXPECT_EQ(text,
        "{\"generation\":7,\"parent_generation\":6,\"fork_index\":2,\"fork_count\":5,"
        "\"batch_id\":\"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\","
        "\"vm_id\":\"cccccccccccccccccccccccccccccccc\",\"hostname\":\"spore-cccccccccccc\","
        "\"mac_seed\":\"0200000000aa\","
        "\"entropy\":\"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\","
        "\"time_ns\":1700000000123456789}");
}

TEST(GenerationParameters, OfAColdBootFitTheDevicePage)
{
    std::array<uint8_t, 32> entropy{};
    std::string text = generation_parameters_json(new_identity(), entropy, INT64_MAX);
    EXPECT_LT(text.size(), 4096u);
    auto parsed = nlohmann::json::parse(text);
    EXPECT_EQ(parsed.size(), 10u);
    EXPECT_EQ(parsed["batch_id"], "");
    EXPECT_EQ(parsed["time_ns"], INT64_MAX);
}

} // namespace
} // namespace spore
