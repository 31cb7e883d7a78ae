#include "bundle/inspect_bundle.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <sys/stat.h>

#include <nlohmann/json.hpp>

#include "bundle/bundle_json.h"
#include "bundle/testing/sample_bundle.h"

namespace spore::bundle {
namespace {

using ::testing::HasSubstr;
using testing::SampleBundle;

TEST(InspectBundle, SummarizesTheDigestTheSporesAndTheBlobs)
{
    SampleBundle sample;
    ASSERT_TRUE(looks_like_bundle(sample.bundle()));
    EXPECT_FALSE(looks_like_bundle(sample.parent()));

    auto text = inspect_bundle(sample.bundle(), true);
    ASSERT_TRUE(text) << text.error().message();
    auto json = nlohmann::json::parse(*text);
    EXPECT_EQ(json["kind"], "bundle");
    EXPECT_EQ(json["digest"], sample.digest());
    EXPECT_EQ(json["children"], nlohmann::json({"000000", "000001", "000002"}));
    EXPECT_EQ(json["parent"]["stored_chunks"], 2);
    // Index, empty config, four OCI manifests, four spore manifests and
    // the two chunks every spore shares.
    EXPECT_EQ(json["blobs"], 12);

    auto human = inspect_bundle(sample.bundle(), false);
    ASSERT_TRUE(human);
    EXPECT_THAT(*human, HasSubstr("the parent and 3 children (000000 to 000002)"));
    EXPECT_THAT(*human, HasSubstr("12 distinct"));
}

TEST(InspectBundle, ACorruptOciManifestIsReported)
{
    SampleBundle sample;
    auto index = parse_index(spore::testing::read_text(sample.bundle() + "/index.json")).value();
    std::string path = SampleBundle::blob_path(sample.bundle(), index.manifests.back().digest);
    ::chmod(path.c_str(), 0644);
    spore::testing::write_text(path, spore::testing::read_text(path) + " ");
    auto text = inspect_bundle(sample.bundle(), false);
    ASSERT_FALSE(text);
    EXPECT_THAT(text.error().message(), HasSubstr("is too long"));
}

} // namespace
} // namespace spore::bundle
