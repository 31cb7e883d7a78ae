#include "remote/http_client.h"

#include <gtest/gtest.h>

namespace spore::remote {
namespace {

TEST(ResolveReference, AnAbsoluteReferenceStandsAlone)
{
    EXPECT_EQ(resolve_reference("http://a:5000/v2/x", "https://b/y?z=1"), "https://b/y?z=1");
}

TEST(ResolveReference, APathReferenceKeepsTheOrigin)
{
    EXPECT_EQ(
        resolve_reference("http://a:5000/v2/x/blobs/uploads/", "/v2/x/blobs/uploads/123?_state=s"),
        "http://a:5000/v2/x/blobs/uploads/123?_state=s");
}

TEST(ResolveReference, APathWithAUrlInItsQueryIsStillRelative)
{
    EXPECT_EQ(
        resolve_reference("https://a/v2/x", "/next?to=http://y/z"), "https://a/next?to=http://y/z");
}

TEST(ResolveReference, ANetworkPathReferenceKeepsTheScheme)
{
    EXPECT_EQ(
        resolve_reference("https://a/v2/x", "//cdn.example/blob"), "https://cdn.example/blob");
}

TEST(ResolveReference, ARelativeReferenceReplacesTheLastSegment)
{
    EXPECT_EQ(resolve_reference("http://a/dir/file", "other"), "http://a/dir/other");
    EXPECT_EQ(resolve_reference("http://a", "other"), "http://a/other");
}

} // namespace
} // namespace spore::remote
