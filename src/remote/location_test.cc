#include "remote/location.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace spore::remote {
namespace {

const std::string kDigest = "sha256:" + std::string(64, 'a');

Location parsed(const std::string& text)
{
    auto location = parse_location(text);
    EXPECT_TRUE(location) << text << ": " << location.error().message();
    return location ? std::move(location).value() : Location{};
}

// The error message for text, or "" if it parses.
std::string refusal(const std::string& text)
{
    auto location = parse_location(text);
    return location ? "" : location.error().message();
}

// The part of a refusal after the quoted location.
std::string problem(const std::string& text)
{
    std::string message = refusal(text);
    std::string prefix = "location \"" + text + "\": ";
    EXPECT_TRUE(message.starts_with(prefix)) << message;
    return message.starts_with(prefix) ? message.substr(prefix.size()) : message;
}

// ---- local directories

TEST(Location, PathIsABundleDirectory)
{
    for (const std::string& path :
        std::vector<std::string>{"/srv/bundles/app", "bundle", "./a/b/", "../up"}) {
        Location location = parsed(path);
        EXPECT_EQ(location.kind, LocationKind::Directory) << path;
        EXPECT_EQ(location.path, path);
        EXPECT_EQ(location.text, path);
        EXPECT_FALSE(location.digest);
    }
}

TEST(Location, DigestAfterADirectoryIsSplitOff)
{
    Location location = parsed("/srv/app@" + kDigest);
    EXPECT_EQ(location.kind, LocationKind::Directory);
    EXPECT_EQ(location.path, "/srv/app");
    EXPECT_EQ(location.text, "/srv/app");
    EXPECT_EQ(location.digest, kDigest);
}

TEST(Location, AtSignNotFollowedByADigestIsPartOfAPath)
{
    Location location = parsed("/srv/app@2");
    EXPECT_EQ(location.path, "/srv/app@2");
    EXPECT_FALSE(location.digest);
}

TEST(Location, MalformedDigestAfterADirectoryIsRefused)
{
    EXPECT_EQ(problem("/srv/app@sha256:abc"), "\"sha256:abc\" after '@' is not a sha256 digest");
}

TEST(Location, DigestWithNothingBeforeItIsRefused)
{
    EXPECT_EQ(problem("@" + kDigest), "nothing before the digest");
}

// ---- S3

TEST(Location, S3BucketWithoutPrefix)
{
    Location location = parsed("s3://my-bucket");
    EXPECT_EQ(location.kind, LocationKind::S3);
    EXPECT_EQ(location.bucket, "my-bucket");
    EXPECT_EQ(location.prefix, "");
    EXPECT_EQ(location.text, "s3://my-bucket");
}

TEST(Location, S3PrefixLosesItsTrailingSlashes)
{
    Location location = parsed("s3://my.bucket-1/team/app~v1_x//");
    EXPECT_EQ(location.bucket, "my.bucket-1");
    EXPECT_EQ(location.prefix, "team/app~v1_x");
}

TEST(Location, S3LocationWithDigest)
{
    Location location = parsed("s3://bucket/app@" + kDigest);
    EXPECT_EQ(location.bucket, "bucket");
    EXPECT_EQ(location.prefix, "app");
    EXPECT_EQ(location.digest, kDigest);
    EXPECT_EQ(location.text, "s3://bucket/app");

    Location bare = parsed("s3://bucket@" + kDigest);
    EXPECT_EQ(bare.bucket, "bucket");
    EXPECT_EQ(bare.digest, kDigest);
}

TEST(Location, BucketNameLengthIsThreeToSixtyThree)
{
    EXPECT_EQ(parsed("s3://abc").bucket, "abc");
    EXPECT_EQ(parsed("s3://" + std::string(63, 'b')).bucket, std::string(63, 'b'));
    EXPECT_EQ(problem("s3://ab"), "\"ab\" is not an S3 bucket name");
    EXPECT_EQ(problem("s3://" + std::string(64, 'b')),
        "\"" + std::string(64, 'b') + "\" is not an S3 bucket name");
}

TEST(Location, MalformedBucketNamesAreRefused)
{
    for (const std::string& bucket : std::vector<std::string>{"", "My-Bucket", "-bucket", "bucket-",
             ".bucket", "bucket.", "my_bucket", "my..bucket", "192.168.1.10", "my~bucket"}) {
        EXPECT_EQ(problem("s3://" + bucket + "/app"), "\"" + bucket + "\" is not an S3 bucket name")
            << bucket;
    }
}

TEST(Location, S3PrefixWithDotSegmentsOrEmptySegmentsIsRefused)
{
    for (const std::string& prefix :
        std::vector<std::string>{"a/../b", "..", "a/./b", "/a", "a//b", "a%2fb", "a:b"}) {
        EXPECT_EQ(problem("s3://bucket/" + prefix),
            "the key prefix must be '/'-separated names of letters, digits and ._~-")
            << prefix;
    }
}

// ---- HTTP

TEST(Location, HttpsLocationGivesABaseUrlWithoutTrailingSlash)
{
    Location location = parsed("https://example.com/bundles/app/");
    EXPECT_EQ(location.kind, LocationKind::Http);
    EXPECT_EQ(location.host, "example.com");
    EXPECT_EQ(location.base_url, "https://example.com/bundles/app");
}

TEST(Location, HttpHostsWithPortsAndAddresses)
{
    EXPECT_EQ(parsed("http://127.0.0.1:8080").base_url, "http://127.0.0.1:8080");
    EXPECT_EQ(parsed("http://[::1]:8080/b").base_url, "http://[::1]:8080/b");
    EXPECT_EQ(parsed("http://[::1]:8080/b").host, "[::1]:8080");
    EXPECT_EQ(parsed("https://[fe80::1]").host, "[fe80::1]");
    EXPECT_EQ(parsed("https://Files.Example.com:65535/x").host, "Files.Example.com:65535");
    EXPECT_EQ(parsed("http://host:1").host, "host:1");
}

TEST(Location, HttpLocationWithDigest)
{
    Location location = parsed("https://example.com/app@" + kDigest);
    EXPECT_EQ(location.base_url, "https://example.com/app");
    EXPECT_EQ(location.digest, kDigest);
}

TEST(Location, MalformedHostsAreRefused)
{
    for (const std::string& host : std::vector<std::string>{"", "exa_mple.com", "-a.com", "a-.com",
             "a..com", ".a.com", "a.com.", "a.com:", "a.com:0", "a.com:65536", "a.com:123456",
             "a.com:8o", "a.com:80:81", "[::1", "[]", "[::1]x", "[::1]:", "[::1]:0", "[1.2.3.4]",
             "[::g]", ":80", std::string(64, 'a') + ".com"}) {
        EXPECT_EQ(problem("https://" + host + "/x"),
            "\"" + host + "\" is not a host name or address with an optional port")
            << host;
    }
}

TEST(Location, HttpPathWithDotSegmentsIsRefused)
{
    for (const std::string& path : std::vector<std::string>{"a/../b", "..", "a/.", "a//b"}) {
        EXPECT_EQ(problem("https://example.com/" + path),
            "the path must be '/'-separated names of letters, digits and ._~-")
            << path;
    }
}

TEST(Location, QueryAndFragmentAreRefused)
{
    EXPECT_EQ(problem("https://example.com/a?x=1"), "a query or fragment is not allowed");
    EXPECT_EQ(problem("https://example.com/a#top"), "a query or fragment is not allowed");
    EXPECT_EQ(problem("s3://bucket/a?versionId=2"), "a query or fragment is not allowed");
}

TEST(Location, CredentialsAreRefusedAsSuch)
{
    std::string expected = "credentials in the location are not allowed (use the environment)";
    for (const std::string& text : std::vector<std::string>{"https://user:secret@example.com/a",
             "https://user@example.com", "s3://key:secret@bucket/app",
             "oci://user:token@ghcr.io/acme/app", "https://user@example.com/a@" + kDigest}) {
        EXPECT_EQ(problem(text), expected) << text;
    }
}

// ---- OCI registries

TEST(Location, RegistryRepositoryWithoutTag)
{
    Location location = parsed("oci://ghcr.io/acme/spores/web");
    EXPECT_EQ(location.kind, LocationKind::Registry);
    EXPECT_EQ(location.host, "ghcr.io");
    EXPECT_EQ(location.repository, "acme/spores/web");
    EXPECT_FALSE(location.tag);
    EXPECT_FALSE(location.digest);
}

TEST(Location, RegistryWithPortTagAndDigest)
{
    Location location = parsed("oci://localhost:5000/team/app:v1.2@" + kDigest);
    EXPECT_EQ(location.host, "localhost:5000");
    EXPECT_EQ(location.repository, "team/app");
    EXPECT_EQ(location.tag, "v1.2");
    EXPECT_EQ(location.digest, kDigest);
    EXPECT_EQ(location.text, "oci://localhost:5000/team/app:v1.2");
}

TEST(Location, RegistryOnAnIpv6Address)
{
    Location location = parsed("oci://[::1]:5000/app:latest");
    EXPECT_EQ(location.host, "[::1]:5000");
    EXPECT_EQ(location.repository, "app");
    EXPECT_EQ(location.tag, "latest");
}

TEST(Location, RegistryWithoutRepositoryIsRefused)
{
    EXPECT_EQ(problem("oci://ghcr.io"), "no repository after the registry host");
    EXPECT_EQ(problem("oci://ghcr.io/"),
        "\"\" is not a repository name (lower-case components separated by '/')");
}

TEST(Location, RepositoryComponentsFollowTheDistributionSpecGrammar)
{
    for (const std::string& name : std::vector<std::string>{"a", "a-b", "a--b", "a---b", "a_b",
             "a__b", "a.b", "a0/b-1/c__d.e", "0", "library/ubuntu", "a.b_c__d-e--f"}) {
        EXPECT_EQ(parsed("oci://h/" + name).repository, name) << name;
    }
}

TEST(Location, RepositoryComponentsOutsideTheGrammarAreRefused)
{
    for (const std::string& name : std::vector<std::string>{"Upper", "a-.b", "a.-b", "a-_b", "a_-b",
             "a__b_", "a___b", "a._b", "a..b", "a_", "a-", "a.", "_a", "-a", ".a", "a/", "a//b",
             "a/-b", "a/B", "a/b/", "a+b", "a~b"}) {
        EXPECT_EQ(problem("oci://h/" + name),
            "\"" + name + "\" is not a repository name (lower-case components separated by '/')")
            << name;
    }
}

TEST(Location, RepositoryIsAtMost255Characters)
{
    std::string longest = std::string(127, 'a') + "/" + std::string(127, 'b');
    EXPECT_EQ(parsed("oci://h/" + longest).repository, longest);
    std::string longer = longest + "b";
    // Too long for the message to quote the whole location first.
    std::string message = refusal("oci://h/" + longer);
    EXPECT_TRUE(message.ends_with(
        ": \"" + longer + "\" is not a repository name (lower-case components separated by '/')"))
        << message;
}

TEST(Location, TagsFollowTheDistributionSpecGrammar)
{
    for (const std::string& tag :
        std::vector<std::string>{"v1", "_v", "V1.0-rc_1", "0", std::string(128, 't')})
        EXPECT_EQ(parsed("oci://h/app:" + tag).tag, tag) << tag;
}

TEST(Location, MalformedTagsAreRefused)
{
    for (const std::string& tag :
        std::vector<std::string>{"", "-v1", ".v1", "v/1", "v+1", std::string(129, 't')})
        EXPECT_EQ(problem("oci://h/app:" + tag), "\"" + tag + "\" is not a tag") << tag;
}

TEST(Location, MalformedDigestsAfterARemoteLocationAreRefused)
{
    std::string hex = kDigest.substr(7);
    std::string upper = hex;
    upper[0] = 'A';
    for (const std::string& digest :
        std::vector<std::string>{std::string(), "sha256:" + hex.substr(1), "sha256:" + hex + "0",
            "sha256:" + upper, "sha512:" + hex, hex, "latest"}) {
        EXPECT_EQ(
            problem("oci://h/app@" + digest), "\"" + digest + "\" after '@' is not a sha256 digest")
            << digest;
    }
    EXPECT_EQ(problem("s3://bucket@sha256:00"), "\"sha256:00\" after '@' is not a sha256 digest");
}

// ---- every kind

TEST(Location, EmptyLocationIsRefused)
{
    EXPECT_EQ(refusal(""), "location \"\": empty");
}

TEST(Location, UnknownSchemeIsRefused)
{
    EXPECT_EQ(
        problem("ftp://example.com/app"), "unknown scheme \"ftp\" (use s3, http, https or oci)");
    EXPECT_EQ(problem("S3://bucket"), "unknown scheme \"S3\" (use s3, http, https or oci)");
    EXPECT_EQ(problem("file:///srv/app"), "unknown scheme \"file\" (use s3, http, https or oci)");
}

TEST(Location, SpacesControlsAndNonAsciiAreRefused)
{
    std::string expected = "contains a space or a control or non-ASCII character";
    for (const std::string& text :
        std::vector<std::string>{"/srv/my bundle", "/srv/bundle\t", "s3://bucket/b\xc3\xbcndel",
            "https://example.com/\x7f", std::string("/srv/a\0b", 8)}) {
        EXPECT_EQ(problem(text), expected);
    }
}

TEST(Location, LocationIsAtMost2048Characters)
{
    std::string longest = "/" + std::string(2047, 'p');
    EXPECT_EQ(parsed(longest).path, longest);
    std::string longer = longest + "p";
    // The message quotes only the start of what it refuses.
    EXPECT_EQ(
        refusal(longer), "location \"" + longer.substr(0, 200) + "\": longer than 2048 characters");
}

// ---- is_loopback_host

TEST(LoopbackHost, LoopbackNamesAndAddresses)
{
    for (const std::string& host : std::vector<std::string>{"localhost", "localhost:5000",
             "LocalHost", "127.0.0.1", "127.1.2.3:8080", "[::1]", "[::1]:5000"}) {
        EXPECT_TRUE(is_loopback_host(host)) << host;
    }
}

TEST(LoopbackHost, NamesThatMerelyLookLocalAreNotLoopback)
{
    for (const std::string& host : std::vector<std::string>{"127.example.com", "127.0.0.1.nip.io",
             "127.0.0.1x", "127.0.0.256", "127.0.0", "localhost.example.com", "localhostx",
             "example.com", "128.0.0.1", "0.0.0.0", "[::2]", "[::1", "[::ffff:7f00:1]", ""}) {
        EXPECT_FALSE(is_loopback_host(host)) << host;
    }
}

} // namespace
} // namespace spore::remote
