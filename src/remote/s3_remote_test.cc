#include "remote/s3_remote.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <map>

namespace spore::remote {
namespace {

// Sets AWS_* variables for one test and puts back what was there before.
class S3EnvironmentTest : public ::testing::Test {
protected:
    void SetUp() override
    {
        for (const char* name : kNames) {
            const char* value = std::getenv(name);
            if (value)
                m_saved[name] = value;
            ::unsetenv(name);
        }
    }
    void TearDown() override
    {
        for (const char* name : kNames) {
            auto saved = m_saved.find(name);
            if (saved == m_saved.end())
                ::unsetenv(name);
            else
                ::setenv(name, saved->second.c_str(), 1);
        }
    }
    void set(const char* name, const char* value) { ::setenv(name, value, 1); }

    static constexpr const char* kNames[]
        = {"AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL", "AWS_REGION", "AWS_DEFAULT_REGION",
            "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"};
    std::map<std::string, std::string> m_saved;
};

TEST_F(S3EnvironmentTest, NothingSetMeansAwsInUsEast1Unsigned)
{
    auto settings = s3_settings_from_environment();
    ASSERT_TRUE(settings) << settings.error().message();
    EXPECT_EQ(settings->endpoint, "");
    EXPECT_EQ(settings->region, "us-east-1");
    EXPECT_FALSE(settings->credentials);
    EXPECT_EQ(settings->session_token, "");
}

TEST_F(S3EnvironmentTest, S3EndpointVariableWinsOverTheGeneralOne)
{
    set("AWS_ENDPOINT_URL", "http://general:1");
    EXPECT_EQ(s3_settings_from_environment()->endpoint, "http://general:1");
    set("AWS_ENDPOINT_URL_S3", "http://s3-only:2");
    EXPECT_EQ(s3_settings_from_environment()->endpoint, "http://s3-only:2");
}

TEST_F(S3EnvironmentTest, RegionVariableWinsOverTheDefaultRegion)
{
    set("AWS_DEFAULT_REGION", "eu-west-1");
    EXPECT_EQ(s3_settings_from_environment()->region, "eu-west-1");
    set("AWS_REGION", "ap-south-1");
    EXPECT_EQ(s3_settings_from_environment()->region, "ap-south-1");
}

TEST_F(S3EnvironmentTest, KeyPairAndTokenBecomeSigningCredentialsForTheRegion)
{
    set("AWS_REGION", "eu-central-1");
    set("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE");
    set("AWS_SECRET_ACCESS_KEY", "secret");
    set("AWS_SESSION_TOKEN", "token");
    auto settings = s3_settings_from_environment();
    ASSERT_TRUE(settings) << settings.error().message();
    ASSERT_TRUE(settings->credentials);
    EXPECT_EQ(settings->credentials->access_key_id, "AKIDEXAMPLE");
    EXPECT_EQ(settings->credentials->secret_access_key, "secret");
    EXPECT_EQ(settings->credentials->region, "eu-central-1");
    EXPECT_EQ(settings->credentials->service, "s3");
    EXPECT_EQ(settings->session_token, "token");
}

TEST_F(S3EnvironmentTest, KeyWithoutSecretIsRefused)
{
    set("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE");
    auto settings = s3_settings_from_environment();
    ASSERT_FALSE(settings);
    EXPECT_EQ(settings.error().code(), ErrorCode::InvalidInput);
    EXPECT_NE(settings.error().message().find("AWS_SECRET_ACCESS_KEY"), std::string::npos);
}

TEST_F(S3EnvironmentTest, SecretWithoutKeyIsRefusedWithoutShowingIt)
{
    set("AWS_SECRET_ACCESS_KEY", "do-not-print-me");
    auto settings = s3_settings_from_environment();
    ASSERT_FALSE(settings);
    EXPECT_NE(settings.error().message().find("AWS_ACCESS_KEY_ID"), std::string::npos);
    EXPECT_EQ(settings.error().message().find("do-not-print-me"), std::string::npos);
}

TEST_F(S3EnvironmentTest, SessionTokenWithoutKeysIsRefused)
{
    set("AWS_SESSION_TOKEN", "token");
    EXPECT_FALSE(s3_settings_from_environment());
}

TEST_F(S3EnvironmentTest, EmptyVariablesCountAsUnset)
{
    set("AWS_ENDPOINT_URL_S3", "");
    set("AWS_ENDPOINT_URL", "http://fallback:9000");
    set("AWS_REGION", "");
    set("AWS_ACCESS_KEY_ID", "");
    set("AWS_SECRET_ACCESS_KEY", "");
    auto settings = s3_settings_from_environment();
    ASSERT_TRUE(settings) << settings.error().message();
    EXPECT_EQ(settings->endpoint, "http://fallback:9000");
    EXPECT_EQ(settings->region, "us-east-1");
    EXPECT_FALSE(settings->credentials);
}

TEST(S3EndpointTest, HttpAndHttpsHostsPortsAndPathsAreAccepted)
{
    for (const char* endpoint : {"http://127.0.0.1:4569", "https://s3.example.com",
             "https://minio.internal:9000/", "http://[::1]:9000", "https://gateway.example/s3"})
        EXPECT_TRUE(validate_s3_endpoint(endpoint)) << endpoint;
}

TEST(S3EndpointTest, OtherSchemesAreRefused)
{
    for (const char* endpoint : {"ftp://host", "file:///tmp", "s3://bucket", "host:9000", ""}) {
        auto valid = validate_s3_endpoint(endpoint);
        ASSERT_FALSE(valid) << endpoint;
        EXPECT_NE(valid.error().message().find("http:// or https://"), std::string::npos);
    }
}

TEST(S3EndpointTest, MissingHostIsRefused)
{
    EXPECT_FALSE(validate_s3_endpoint("http://"));
    EXPECT_FALSE(validate_s3_endpoint("https:///bucket"));
}

TEST(S3EndpointTest, CredentialsInTheUrlAreRefusedWithoutShowingThem)
{
    auto valid = validate_s3_endpoint("https://user:hunter2@s3.example.com");
    ASSERT_FALSE(valid);
    EXPECT_EQ(valid.error().message().find("hunter2"), std::string::npos);
}

TEST(S3EndpointTest, QueriesFragmentsEscapesAndControlCharactersAreRefused)
{
    for (const char* endpoint : {"http://host/?x=1", "http://host#top", "http://host/a%20b",
             "http://host\r\nX-Evil: 1", "http://ho st"})
        EXPECT_FALSE(validate_s3_endpoint(endpoint)) << endpoint;
}

TEST(S3EndpointTest, OverlongEndpointIsRefusedWithABoundedMessage)
{
    auto valid = validate_s3_endpoint("http://" + std::string(100000, 'a'));
    ASSERT_FALSE(valid);
    EXPECT_LT(valid.error().message().size(), 400u);
}

TEST(S3RegionTest, AwsRegionNamesAreAccepted)
{
    for (const char* region : {"us-east-1", "eu-west-3", "ap-southeast-2", "us-gov-west-1"})
        EXPECT_TRUE(validate_s3_region(region)) << region;
}

TEST(S3RegionTest, RegionsThatCouldBreakTheHostOrSignatureAreRefused)
{
    for (const char* region : {"", "US-EAST-1", "us-east-1:s3", "evil.com/", "-x", "x-", "a b"})
        EXPECT_FALSE(validate_s3_region(region)) << region;
    EXPECT_FALSE(validate_s3_region(std::string(65, 'a')));
}

TEST(S3ObjectUrlTest, CustomEndpointIsAddressedPathStyle)
{
    S3Settings settings;
    settings.endpoint = "http://127.0.0.1:4569";
    EXPECT_EQ(s3_object_url(settings, "bucket", "prefix/blobs/sha256/ab"),
        "http://127.0.0.1:4569/bucket/prefix/blobs/sha256/ab");
}

TEST(S3ObjectUrlTest, TrailingSlashesAndPathsOfTheEndpointAreKeptClean)
{
    S3Settings settings;
    settings.endpoint = "https://gateway.example/s3//";
    EXPECT_EQ(s3_object_url(settings, "bucket", "index.json"),
        "https://gateway.example/s3/bucket/index.json");
}

TEST(S3ObjectUrlTest, AwsIsAddressedVirtualHostedInTheRegion)
{
    S3Settings settings;
    settings.region = "eu-west-1";
    EXPECT_EQ(s3_object_url(settings, "my-bucket", "p/oci-layout"),
        "https://my-bucket.s3.eu-west-1.amazonaws.com/p/oci-layout");
}

TEST(S3ObjectUrlTest, AwsBucketWithDotsIsAddressedPathStyleToMatchTheCertificate)
{
    S3Settings settings;
    settings.region = "us-west-2";
    EXPECT_EQ(s3_object_url(settings, "bundles.example.com", "index.json"),
        "https://s3.us-west-2.amazonaws.com/bundles.example.com/index.json");
}

TEST(S3ErrorTest, CodeAndMessageAreExtracted)
{
    auto details = parse_s3_error("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                                  "<Error><Code>SignatureDoesNotMatch</Code><Message>The request "
                                  "signature we calculated does not match the signature you "
                                  "provided.</Message><RequestId>1</RequestId></Error>");
    EXPECT_EQ(details.code, "SignatureDoesNotMatch");
    EXPECT_EQ(details.message,
        "The request signature we calculated does not match the signature you provided.");
}

TEST(S3ErrorTest, EntitiesAreDecoded)
{
    auto details = parse_s3_error(
        "<Error><Code>A&amp;B</Code><Message>&lt;key&gt; &quot;x&quot; &apos;y&apos; &unknown; "
        "&#65;</Message></Error>");
    EXPECT_EQ(details.code, "A&B");
    EXPECT_EQ(details.message, "<key> \"x\" 'y' &unknown; &#65;");
}

TEST(S3ErrorTest, ControlCharactersAndNonAsciiAreBlankedIntoOneLine)
{
    auto details
        = parse_s3_error("<Error><Code>Bad\r\nCode</Code>"
                         "<Message>\n  line one\nline two\x1b[31m \xc3\xa9 </Message></Error>");
    EXPECT_EQ(details.code, "Bad  Code");
    EXPECT_EQ(details.message, "line one line two [31m");
}

TEST(S3ErrorTest, BodiesThatAreNotS3ErrorsGiveNothing)
{
    for (const char* body : {"", "<html><body>502 Bad Gateway</body></html>", "{\"code\":1}",
             "<Code>unterminated", "<Message></Message>", "</Code><Code>"}) {
        auto details = parse_s3_error(body);
        EXPECT_EQ(details.code, "") << body;
        EXPECT_EQ(details.message, "") << body;
    }
}

TEST(S3ErrorTest, NestedMarkupIsNotTakenAsText)
{
    auto details = parse_s3_error("<Error><Code><b>X</b></Code><Message>ok</Message></Error>");
    EXPECT_EQ(details.code, "");
    EXPECT_EQ(details.message, "ok");
}

TEST(S3ErrorTest, HugeFieldsAreCutOrNotReadAtAll)
{
    std::string body = "<Error><Code>" + std::string(1000, 'C') + "</Code><Message>"
        + std::string(1 << 20, 'm') + "</Message></Error>";
    auto details = parse_s3_error(body);
    EXPECT_EQ(details.code, std::string(64, 'C'));
    // The message closes beyond the first 64 KiB, which is all that is parsed.
    EXPECT_EQ(details.message, "");
}

TEST(S3ErrorTest, MessageIsCutAtItsLimit)
{
    std::string body = "<Error><Code>X</Code><Message>" + std::string(5000, 'm') + "</Message>";
    EXPECT_EQ(parse_s3_error(body).message.size(), 512u);
}

TEST(S3ErrorTest, ElementsBeyondTheFirst64KiBAreIgnored)
{
    std::string body = std::string(64 << 10, ' ') + "<Error><Code>Late</Code></Error>";
    EXPECT_EQ(parse_s3_error(body).code, "");
}

TEST(S3ErrorTest, EveryPrefixOfAnErrorParsesWithoutHarm)
{
    std::string body = "<Error><Code>NoSuchKey</Code><Message>The &amp; key</Message></Error>";
    for (size_t length = 0; length <= body.size(); length++) {
        auto details = parse_s3_error(std::string_view(body).substr(0, length));
        EXPECT_LE(details.code.size(), 9u);
    }
    EXPECT_EQ(parse_s3_error(body).message, "The & key");
}

Location s3_location(const std::string& text)
{
    auto location = parse_location(text);
    EXPECT_TRUE(location) << location.error().message();
    return std::move(location).value();
}

std::shared_ptr<HttpClient> client()
{
    return HttpClient::create({}).value();
}

TEST(S3RemoteCreateTest, DescribesItselfAsWritten)
{
    auto remote = S3Remote::create(s3_location("s3://bucket/some/prefix"), {}, client());
    ASSERT_TRUE(remote) << remote.error().message();
    EXPECT_EQ((*remote)->describe(), "s3://bucket/some/prefix");
}

TEST(S3RemoteCreateTest, NonS3LocationIsRefused)
{
    EXPECT_FALSE(S3Remote::create(s3_location("https://example.com/x"), {}, client()));
}

TEST(S3RemoteCreateTest, BadEndpointIsRefusedNamingTheLocation)
{
    S3Settings settings;
    settings.endpoint = "ftp://127.0.0.1";
    auto remote = S3Remote::create(s3_location("s3://bucket"), settings, client());
    ASSERT_FALSE(remote);
    EXPECT_EQ(remote.error().message().rfind("s3://bucket: ", 0), 0u);
}

TEST(S3RemoteCreateTest, BadRegionIsRefused)
{
    S3Settings settings;
    settings.region = "us-east-1:evil";
    EXPECT_FALSE(S3Remote::create(s3_location("s3://bucket"), settings, client()));
}

TEST(S3RemoteCreateTest, SessionTokenWithoutCredentialsIsRefused)
{
    S3Settings settings;
    settings.session_token = "token";
    EXPECT_FALSE(S3Remote::create(s3_location("s3://bucket"), settings, client()));
}

TEST(S3RemoteCreateTest, CredentialsWithLineBreaksAreRefusedWithoutShowingThem)
{
    S3Settings settings;
    settings.credentials = AwsSigning{"key", "secret\r\nX-Injected: 1", "", "s3"};
    auto remote = S3Remote::create(s3_location("s3://bucket"), settings, client());
    ASSERT_FALSE(remote);
    EXPECT_EQ(remote.error().message().find("secret"), std::string::npos);
}

TEST(S3RemoteCreateTest, MalformedDigestIsRefusedBeforeAnyRequest)
{
    S3Settings settings;
    // Nothing listens here; a request would fail differently.
    settings.endpoint = "http://127.0.0.1:1";
    auto remote = S3Remote::create(s3_location("s3://bucket"), settings, client()).value();
    std::vector<uint8_t> out;
    auto fetched = remote->fetch({ContentKind::Blob, "sha256:../../etc", ""}, 100, out);
    ASSERT_FALSE(fetched);
    EXPECT_NE(fetched.error().message().find("is not a digest"), std::string::npos);
    EXPECT_FALSE(remote->store({ContentKind::Blob, "md5:00", ""}, {}));
    EXPECT_FALSE(remote->contains({ContentKind::Blob, "", ""}, 0));
}

} // namespace
} // namespace spore::remote
