#include "common/sha256.h"

#include <gtest/gtest.h>

#include <string_view>

namespace spore {
namespace {

std::string hex_digest(std::string_view text)
{
    return to_hex(sha256({reinterpret_cast<const uint8_t*>(text.data()), text.size()}));
}

TEST(Sha256, MatchesTheStandardTestVectors)
{
    EXPECT_EQ(hex_digest(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    EXPECT_EQ(hex_digest("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(Sha256, DigestsTakenWhileSetupRunsInTheBackgroundAreRight)
{
    DigestSetupInBackground setup;
    for (int round = 0; round < 100; round++)
        ASSERT_EQ(hex_digest("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

} // namespace
} // namespace spore
