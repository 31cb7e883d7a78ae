// HttpClient and HttpRemote against nginx (tests/remote/servers/nginx.sh)
// and s3rver, plus a scripted server on loopback for the peers no
// real server imitates: endless headers, lying lengths, hostile redirects.

#include "remote/http_remote.h"

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include "remote/layout_store.h"
#include "remote/s3_remote.h"
#include "remote/testing/integration_support.h"
#include "remote/testing/scripted_server.h"
#include "spore/digest.h"

namespace spore::remote {
namespace {

using testing::blob;
using testing::client_with_test_ca;
using testing::contains_text;
using testing::holds;
using testing::pattern;
using testing::ScriptedServer;
using testing::server;
using testing::unique_name;

// Writes bytes to RELATIVE under the web root, creating directories.
void place_file(const std::string& relative, std::span<const uint8_t> bytes)
{
    std::filesystem::path path = server("SPOREVM_TEST_HTTP_ROOT") + "/" + relative;
    std::filesystem::create_directories(path.parent_path());
    std::ofstream(path, std::ios::binary)
        .write(reinterpret_cast<const char*>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
}

// HttpClient against real servers.

TEST(HttpClientTest, GetReturnsStatusHeadersAndBody)
{
    auto bytes = pattern(10000, 1);
    place_file(unique_name() + "/file", bytes);
    HttpRequest request;
    request.url = server("SPOREVM_TEST_HTTP_URL") + "/" + unique_name() + "/file";
    auto response = client_with_test_ca()->send(request);
    ASSERT_TRUE(response) << response.error().message();
    EXPECT_EQ(response->status, 200);
    EXPECT_EQ(response->body, bytes);
    EXPECT_EQ(content_length_of(*response), 10000u);
    EXPECT_EQ(response->header("server").value_or("").rfind("nginx", 0), 0u);
}

TEST(HttpClientTest, HeadReturnsTheLengthWithoutABody)
{
    place_file(unique_name() + "/file", pattern(5000, 2));
    HttpRequest request;
    request.method = "HEAD";
    request.url = server("SPOREVM_TEST_HTTP_URL") + "/" + unique_name() + "/file";
    request.max_response_size = 0;
    auto response = client_with_test_ca()->send(request);
    ASSERT_TRUE(response) << response.error().message();
    EXPECT_EQ(response->status, 200);
    EXPECT_EQ(content_length_of(*response), 5000u);
    EXPECT_TRUE(response->body.empty());
}

TEST(HttpClientTest, PutSendsTheBodyWhichAGetReturns)
{
    // s3rver accepts unsigned requests, which makes it a plain PUT target.
    std::string url = server("SPOREVM_TEST_S3_ENDPOINT") + "/" + server("SPOREVM_TEST_S3_BUCKET")
        + "/" + unique_name();
    auto bytes = pattern(3 << 20, 3);
    auto client = client_with_test_ca();
    HttpRequest put;
    put.method = "PUT";
    put.url = url;
    put.body = bytes;
    auto stored = client->send(put);
    ASSERT_TRUE(stored) << stored.error().message();
    EXPECT_EQ(stored->status, 200) << stored->body_excerpt();

    HttpRequest get;
    get.url = url;
    get.max_response_size = bytes.size();
    auto fetched = client->send(get);
    ASSERT_TRUE(fetched) << fetched.error().message();
    EXPECT_EQ(fetched->status, 200);
    EXPECT_EQ(fetched->body, bytes);
    EXPECT_EQ(fetched->header("content-type"), "application/octet-stream");
}

TEST(HttpClientTest, ResponseOfExactlyTheLimitIsAcceptedAndOneByteOverRefused)
{
    place_file(unique_name() + "/file", pattern(100000, 4));
    HttpRequest request;
    request.url = server("SPOREVM_TEST_HTTP_URL") + "/" + unique_name() + "/file";
    request.max_response_size = 100000;
    auto client = client_with_test_ca();
    EXPECT_TRUE(client->send(request));

    request.max_response_size = 99999;
    auto response = client->send(request);
    ASSERT_FALSE(response);
    EXPECT_EQ(response.error().code(), ErrorCode::InvalidInput);
    EXPECT_TRUE(contains_text(response.error().message(), "longer than 99999 bytes"))
        << response.error().message();
}

TEST(HttpClientTest, HttpsIsVerifiedWithTheTestCa)
{
    place_file(unique_name() + "/file", pattern(100, 5));
    HttpRequest request;
    request.url = server("SPOREVM_TEST_HTTPS_URL") + "/" + unique_name() + "/file";
    auto response = client_with_test_ca()->send(request);
    ASSERT_TRUE(response) << response.error().message();
    EXPECT_EQ(response->status, 200);
    EXPECT_EQ(response->body, pattern(100, 5));
}

TEST(HttpClientTest, HttpsFailsWithoutTheTestCa)
{
    place_file(unique_name() + "/file", pattern(100, 6));
    HttpRequest request;
    request.url = server("SPOREVM_TEST_HTTPS_URL") + "/" + unique_name() + "/file";
    auto response = HttpClient::create({}).value()->send(request);
    ASSERT_FALSE(response);
    EXPECT_TRUE(contains_text(response.error().message(), "certificate"))
        << response.error().message();
}

TEST(HttpClientTest, MissingCaFileIsRefusedAtCreation)
{
    HttpOptions options;
    options.ca_file = "/nonexistent/ca.pem";
    EXPECT_FALSE(HttpClient::create(options));
}

TEST(HttpClientTest, RedirectIsReturnedNotFollowed)
{
    place_file(unique_name() + "/file", pattern(100, 7));
    HttpRequest request;
    request.url = server("SPOREVM_TEST_HTTP_REDIRECT_URL") + "/" + unique_name() + "/file";
    auto response = client_with_test_ca()->send(request);
    ASSERT_TRUE(response) << response.error().message();
    EXPECT_EQ(response->status, 302);
    EXPECT_EQ(response->header("location"),
        server("SPOREVM_TEST_HTTP_URL") + "/" + unique_name() + "/file");
    EXPECT_NE(response->body, pattern(100, 7));
}

TEST(HttpClientTest, NoListenerIsATransportError)
{
    HttpRequest request;
    request.url = "http://127.0.0.1:1/";
    auto response = client_with_test_ca()->send(request);
    ASSERT_FALSE(response);
    EXPECT_TRUE(contains_text(response.error().message(), "GET http://127.0.0.1:1/: "));
}

// HttpClient against peers that misbehave.

TEST(HttpClientHostilePeerTest, EndlessHeadersAreRefused)
{
    std::string head = "HTTP/1.1 200 OK\r\n";
    for (int line = 0; line < 400; line++)
        head += "X-Filler-" + std::to_string(line) + ": " + std::string(1000, 'a') + "\r\n";
    ScriptedServer peer(head + "Content-Length: 0\r\n\r\n");
    HttpRequest request;
    request.url = peer.url() + "/";
    auto response = client_with_test_ca()->send(request);
    ASSERT_FALSE(response);
    EXPECT_TRUE(contains_text(response.error().message(), "headers are longer than"))
        << response.error().message();
}

TEST(HttpClientHostilePeerTest, AnnouncedLengthOverTheLimitIsRefusedBeforeTheBody)
{
    ScriptedServer peer("HTTP/1.1 200 OK\r\nContent-Length: 1000000000000\r\n\r\n", 1 << 20);
    HttpRequest request;
    request.url = peer.url() + "/";
    request.max_response_size = 4096;
    auto response = client_with_test_ca()->send(request);
    ASSERT_FALSE(response);
    EXPECT_TRUE(contains_text(response.error().message(), "longer than 4096 bytes"))
        << response.error().message();
}

TEST(HttpClientHostilePeerTest, UnannouncedEndlessBodyIsCutAtTheLimit)
{
    ScriptedServer peer("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n", 64 << 20);
    HttpRequest request;
    request.url = peer.url() + "/";
    request.max_response_size = 1 << 20;
    auto response = client_with_test_ca()->send(request);
    ASSERT_FALSE(response);
    EXPECT_TRUE(contains_text(response.error().message(), "longer than 1048576 bytes"))
        << response.error().message();
}

TEST(HttpClientHostilePeerTest, GarbageInsteadOfHttpIsATransportError)
{
    ScriptedServer peer(std::string(5000, '\x01'));
    HttpRequest request;
    request.url = peer.url() + "/";
    EXPECT_FALSE(client_with_test_ca()->send(request));
}

TEST(HttpClientHostilePeerTest, HostileRedirectIsRefusedWithAPrintableBoundedMessage)
{
    ScriptedServer peer("HTTP/1.1 302 Found\r\nLocation: http://elsewhere/\x1b[31m"
        + std::string(10000, 'a') + "\r\nContent-Length: 0\r\n\r\n");
    Location location = parse_location(peer.url() + "/bundle").value();
    auto remote = HttpRemote::create(location, client_with_test_ca()).value();
    std::vector<uint8_t> out;
    auto fetched = remote->fetch({ContentKind::Blob, digest_of(pattern(10, 1)), ""}, 100, out);
    ASSERT_FALSE(fetched);
    const std::string& message = fetched.error().message();
    EXPECT_TRUE(contains_text(message, "redirect refused: 302 to http://elsewhere/")) << message;
    EXPECT_FALSE(contains_text(message, "\x1b"));
    EXPECT_LT(message.size(), 600u);
}

// What S3Remote puts on the wire; s3rver cannot show which headers were signed.

Result<std::unique_ptr<S3Remote>> s3_remote_for(const ScriptedServer& peer, std::string token)
{
    S3Settings settings;
    settings.endpoint = peer.url();
    settings.region = "eu-west-1";
    settings.credentials = AwsSigning{"AKIDEXAMPLE", "secret", "", "s3"};
    settings.session_token = std::move(token);
    Location location = parse_location("s3://bucket/prefix").value();
    return S3Remote::create(location, std::move(settings), client_with_test_ca());
}

TEST(HttpSignedRequestTest, S3RequestSignsThePayloadHashAndSessionToken)
{
    std::string body = "<Error><Code>NoSuchKey</Code><Message>gone</Message></Error>";
    ScriptedServer peer("HTTP/1.1 404 Not Found\r\nContent-Length: " + std::to_string(body.size())
        + "\r\n\r\n" + body);
    auto remote = s3_remote_for(peer, "session-token-value").value();
    std::string digest = digest_of(pattern(10, 2));
    std::vector<uint8_t> out;
    auto fetched = remote->fetch({ContentKind::Blob, digest, ""}, 100, out);
    ASSERT_FALSE(fetched);
    EXPECT_EQ(fetched.error().code(), ErrorCode::NotFound);

    std::string request = peer.first_head();
    EXPECT_EQ(request.rfind("GET /bucket/prefix/blobs/sha256/" + digest.substr(7) + " ", 0), 0u)
        << request;
    EXPECT_TRUE(contains_text(request, "Credential=AKIDEXAMPLE/")) << request;
    EXPECT_TRUE(contains_text(request, "/eu-west-1/s3/aws4_request")) << request;
    EXPECT_TRUE(contains_text(request, "x-amz-content-sha256;x-amz-date;x-amz-security-token"))
        << request;
    EXPECT_TRUE(contains_text(request, "\r\nx-amz-security-token: session-token-value\r\n"));
    EXPECT_TRUE(contains_text(request,
        "\r\nx-amz-content-sha256: "
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\r\n"));
    EXPECT_FALSE(contains_text(request, "secret"));
}

TEST(HttpSignedRequestTest, S3WrongRegionErrorNamesTheBucketRegion)
{
    std::string body = "<Error><Code>PermanentRedirect</Code><Message>The bucket you are "
                       "attempting to access must be addressed using the specified "
                       "endpoint.</Message></Error>";
    ScriptedServer peer("HTTP/1.1 301 Moved Permanently\r\nx-amz-bucket-region: ap-south-1\r\n"
                        "Content-Length: "
        + std::to_string(body.size()) + "\r\n\r\n" + body);
    auto remote = s3_remote_for(peer, "").value();
    std::vector<uint8_t> out;
    auto fetched = remote->fetch({ContentKind::Blob, digest_of(pattern(10, 3)), ""}, 100, out);
    ASSERT_FALSE(fetched);
    EXPECT_TRUE(contains_text(
        fetched.error().message(), ": 301 PermanentRedirect: The bucket you are attempting"))
        << fetched.error().message();
    EXPECT_TRUE(contains_text(fetched.error().message(), "(the bucket is in region ap-south-1)"));
}

TEST(HttpSignedRequestTest, S3HugeErrorDocumentIsRefusedAsTooLong)
{
    ScriptedServer peer(
        "HTTP/1.1 403 Forbidden\r\nConnection: close\r\n\r\n<Error><Code>", 8 << 20);
    auto remote = s3_remote_for(peer, "").value();
    std::vector<uint8_t> out;
    auto fetched = remote->fetch({ContentKind::Blob, digest_of(pattern(10, 4)), ""}, 100, out);
    ASSERT_FALSE(fetched);
    EXPECT_TRUE(contains_text(fetched.error().message(), "longer than 65536 bytes"))
        << fetched.error().message();
}

// HttpRemote against nginx.

class HttpRemoteTest : public ::testing::Test {
protected:
    // A bundle directory under the web root for this test, and its blobs.
    std::string bundle_path() const { return unique_name(); }

    std::string place_blob(std::span<const uint8_t> bytes)
    {
        std::string digest = digest_of(bytes);
        place_file(blob_object_name(bundle_path(), digest), bytes);
        return digest;
    }

    std::unique_ptr<HttpRemote> open(const std::string& base_variable)
    {
        auto location = parse_location(server(base_variable) + "/" + bundle_path());
        EXPECT_TRUE(location) << location.error().message();
        auto remote = HttpRemote::create(*location, client_with_test_ca());
        EXPECT_TRUE(remote) << remote.error().message();
        return std::move(remote).value();
    }
};

TEST_F(HttpRemoteTest, FetchOverHttpReturnsTheBlob)
{
    auto bytes = pattern(300000, 10);
    std::string digest = place_blob(bytes);
    std::vector<uint8_t> out;
    auto fetched = open("SPOREVM_TEST_HTTP_URL")->fetch(blob(digest), bytes.size(), out);
    ASSERT_TRUE(fetched) << fetched.error().message();
    EXPECT_EQ(out, bytes);
}

TEST_F(HttpRemoteTest, FetchOverHttpsReturnsTheBlob)
{
    auto bytes = pattern(2 << 20, 11);
    std::string digest = place_blob(bytes);
    std::vector<uint8_t> out;
    auto fetched = open("SPOREVM_TEST_HTTPS_URL")->fetch(blob(digest), 4 << 20, out);
    ASSERT_TRUE(fetched) << fetched.error().message();
    EXPECT_EQ(out, bytes);
}

TEST_F(HttpRemoteTest, FetchThroughTheRateLimitedViewArrivesWholeAndSlowly)
{
    // nginx sends the first second's worth (1 MiB) at once, then 1 MiB/s.
    auto bytes = pattern(3 << 20, 12);
    std::string digest = place_blob(bytes);
    std::vector<uint8_t> out;
    auto start = std::chrono::steady_clock::now();
    auto fetched = open("SPOREVM_TEST_HTTP_SLOW_URL")->fetch(blob(digest), bytes.size(), out);
    auto elapsed = std::chrono::steady_clock::now() - start;
    ASSERT_TRUE(fetched) << fetched.error().message();
    EXPECT_EQ(out, bytes);
    EXPECT_GE(elapsed, std::chrono::milliseconds(300));
}

TEST_F(HttpRemoteTest, MissingBlobIsNotFound)
{
    std::vector<uint8_t> out;
    std::string digest = digest_of(pattern(10, 13));
    auto fetched = open("SPOREVM_TEST_HTTPS_URL")->fetch(blob(digest), 1 << 20, out);
    ASSERT_FALSE(fetched);
    EXPECT_EQ(fetched.error().code(), ErrorCode::NotFound);
    EXPECT_TRUE(contains_text(
        fetched.error().message(), ": GET blobs/sha256/" + digest.substr(7) + ": 404 not found"))
        << fetched.error().message();
}

TEST_F(HttpRemoteTest, MissingBlobIsNotFoundEvenUnderALimitSmallerThanTheErrorPage)
{
    std::vector<uint8_t> out;
    auto fetched = open("SPOREVM_TEST_HTTP_URL")->fetch(blob(digest_of(pattern(1, 14))), 1, out);
    ASSERT_FALSE(fetched);
    EXPECT_EQ(fetched.error().code(), ErrorCode::NotFound) << fetched.error().message();
}

TEST_F(HttpRemoteTest, RedirectIsRefusedNamingTheStatusAndTarget)
{
    std::string digest = place_blob(pattern(1000, 15));
    std::vector<uint8_t> out;
    auto remote = open("SPOREVM_TEST_HTTP_REDIRECT_URL");
    auto fetched = remote->fetch(blob(digest), 1 << 20, out);
    ASSERT_FALSE(fetched);
    EXPECT_EQ(fetched.error().code(), ErrorCode::InvalidInput);
    std::string target = server("SPOREVM_TEST_HTTP_URL") + "/" + bundle_path() + "/blobs/sha256/"
        + digest.substr(7);
    EXPECT_EQ(fetched.error().message().rfind(remote->describe() + ": GET blobs/sha256/", 0), 0u);
    EXPECT_TRUE(contains_text(fetched.error().message(), "redirect refused: 302 to " + target))
        << fetched.error().message();
    EXPECT_TRUE(out.empty());

    auto contained = remote->contains(blob(digest), 1000);
    ASSERT_FALSE(contained);
    EXPECT_TRUE(contains_text(contained.error().message(), "redirect refused"));
}

TEST_F(HttpRemoteTest, BlobOfExactlyTheLimitIsFetchedAndOneByteOverRefused)
{
    auto bytes = pattern(200000, 16);
    std::string digest = place_blob(bytes);
    auto remote = open("SPOREVM_TEST_HTTP_URL");
    std::vector<uint8_t> out;
    EXPECT_TRUE(remote->fetch(blob(digest), 200000, out));

    auto fetched = remote->fetch(blob(digest), 199999, out);
    ASSERT_FALSE(fetched);
    EXPECT_EQ(fetched.error().code(), ErrorCode::InvalidInput);
    EXPECT_TRUE(contains_text(fetched.error().message(), "199999"));
}

TEST_F(HttpRemoteTest, BlobOverASmallLimitIsRefused)
{
    std::string digest = place_blob(pattern(1000, 17));
    std::vector<uint8_t> out;
    auto fetched = open("SPOREVM_TEST_HTTP_URL")->fetch(blob(digest), 999, out);
    ASSERT_FALSE(fetched);
    EXPECT_TRUE(contains_text(fetched.error().message(), "1000 bytes, over the limit of 999"))
        << fetched.error().message();
}

TEST_F(HttpRemoteTest, ContainsChecksPresenceAndSize)
{
    std::string digest = place_blob(pattern(4321, 18));
    auto remote = open("SPOREVM_TEST_HTTPS_URL");
    EXPECT_TRUE(holds(*remote, digest, 4321));
    EXPECT_FALSE(holds(*remote, digest, 4320));
    EXPECT_FALSE(holds(*remote, digest_of(pattern(1, 19)), 1));
}

TEST_F(HttpRemoteTest, MalformedDigestIsRefused)
{
    std::vector<uint8_t> out;
    auto fetched
        = open("SPOREVM_TEST_HTTP_URL")->fetch(blob("sha256:../../../etc/passwd"), 10, out);
    ASSERT_FALSE(fetched);
    EXPECT_TRUE(contains_text(fetched.error().message(), "is not a digest"));
}

TEST_F(HttpRemoteTest, StoreAndPublishAreNotSupported)
{
    auto remote = open("SPOREVM_TEST_HTTP_URL");
    auto bytes = pattern(10, 20);
    auto stored = remote->store(blob(digest_of(bytes)), bytes);
    ASSERT_FALSE(stored);
    EXPECT_EQ(stored.error().code(), ErrorCode::NotSupported);
    EXPECT_TRUE(contains_text(stored.error().message(), "s3:// or oci://"));
    auto published = remote->publish_index({ContentKind::Manifest, digest_of(bytes), ""}, bytes);
    ASSERT_FALSE(published);
    EXPECT_EQ(published.error().code(), ErrorCode::NotSupported);
}

TEST_F(HttpRemoteTest, ConcurrentFetchesFromFourThreadsEachGetTheirBlob)
{
    std::vector<std::vector<uint8_t>> blobs;
    std::vector<std::string> digests;
    for (int index = 0; index < 16; index++) {
        blobs.push_back(
            pattern(100000 + static_cast<size_t>(index) * 977, static_cast<uint8_t>(index)));
        digests.push_back(place_blob(blobs.back()));
    }
    auto remote = open("SPOREVM_TEST_HTTPS_URL");
    std::vector<int> failures(4, 0);
    std::vector<std::thread> threads;
    for (int thread = 0; thread < 4; thread++) {
        threads.emplace_back([&, thread] {
            std::vector<uint8_t> out;
            for (int round = 0; round < 3; round++) {
                for (size_t index = static_cast<size_t>(thread); index < blobs.size(); index += 4) {
                    bool ok
                        = remote->fetch(blob(digests[index]), 1 << 20, out) && out == blobs[index];
                    failures[static_cast<size_t>(thread)] += ok ? 0 : 1;
                }
            }
        });
    }
    for (std::thread& thread : threads)
        thread.join();
    EXPECT_EQ(failures, std::vector<int>(4, 0));
}

} // namespace
} // namespace spore::remote
