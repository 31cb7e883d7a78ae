// S3Remote against s3rver (tests/remote/servers/s3.sh), which verifies
// SigV4 signatures and keeps objects as files under its data directory.

#include "remote/s3_remote.h"

#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <thread>

#include "remote/layout_store.h"
#include "remote/testing/integration_support.h"
#include "spore/digest.h"

namespace spore::remote {
namespace {

using testing::blob;
using testing::contains_text;
using testing::holds;
using testing::server;

std::vector<uint8_t> pattern(size_t size, uint8_t seed)
{
    std::vector<uint8_t> bytes(size);
    for (size_t index = 0; index < size; index++)
        bytes[index] = static_cast<uint8_t>(index * 37 + seed + index / 8192);
    return bytes;
}

class S3RemoteTest : public ::testing::Test {
protected:
    // A key prefix no other test (or earlier run) uses.
    static std::string prefix()
    {
        const auto* test = ::testing::UnitTest::GetInstance()->current_test_info();
        return std::string("spore-tests/") + test->name() + "-" + std::to_string(::getpid());
    }

    static S3Settings settings(const std::string& secret = server("SPOREVM_TEST_S3_SECRET_KEY"))
    {
        S3Settings result;
        result.endpoint = server("SPOREVM_TEST_S3_ENDPOINT");
        result.credentials = AwsSigning{server("SPOREVM_TEST_S3_ACCESS_KEY"), secret, "", "s3"};
        return result;
    }

    static std::string location_text(const std::string& key_prefix)
    {
        std::string text = "s3://" + server("SPOREVM_TEST_S3_BUCKET");
        return key_prefix.empty() ? text : text + "/" + key_prefix;
    }

    static std::unique_ptr<S3Remote> open(S3Settings with, const std::string& key_prefix = prefix())
    {
        auto location = parse_location(location_text(key_prefix));
        EXPECT_TRUE(location) << location.error().message();
        auto remote = S3Remote::create(*location, std::move(with), HttpClient::create({}).value());
        EXPECT_TRUE(remote) << remote.error().message();
        return std::move(remote).value();
    }

    // The object at key as a signed GET outside S3Remote sees it.
    static HttpResponse get_object(const std::string& key)
    {
        static const S3Settings signing = [] {
            S3Settings result = settings();
            result.credentials->region = result.region;
            return result;
        }();
        HttpRequest request;
        request.url = s3_object_url(signing, server("SPOREVM_TEST_S3_BUCKET"), key);
        request.headers.push_back("x-amz-content-sha256: " + digest_of({}).substr(7));
        request.aws = &*signing.credentials;
        request.max_response_size = 64 << 20;
        auto response = HttpClient::create({}).value()->send(request);
        EXPECT_TRUE(response) << response.error().message();
        return response ? std::move(response).value() : HttpResponse{};
    }

    // Whether s3rver holds a file for the object, whatever the API says.
    static bool stored_on_disk(const std::string& key)
    {
        std::string path = server("SPOREVM_TEST_S3_DATA") + "/" + server("SPOREVM_TEST_S3_BUCKET")
            + "/" + key + "._S3rver_object";
        return std::filesystem::exists(path);
    }
};

TEST_F(S3RemoteTest, StoredBlobIsContainedFetchedAndKeptUnderItsLayoutName)
{
    auto remote = open(settings());
    auto bytes = pattern(2 << 20, 1);
    std::string digest = digest_of(bytes);
    EXPECT_FALSE(holds(*remote, digest, bytes.size()));

    auto stored = remote->store(blob(digest), bytes);
    ASSERT_TRUE(stored) << stored.error().message();
    EXPECT_TRUE(holds(*remote, digest, bytes.size()));
    EXPECT_FALSE(holds(*remote, digest, bytes.size() - 1));

    std::vector<uint8_t> out;
    auto fetched = remote->fetch(blob(digest), bytes.size(), out);
    ASSERT_TRUE(fetched) << fetched.error().message();
    EXPECT_EQ(out, bytes);

    HttpResponse object = get_object(prefix() + "/blobs/sha256/" + digest.substr(7));
    EXPECT_EQ(object.status, 200);
    EXPECT_EQ(object.body, bytes);
    EXPECT_EQ(object.header("content-type"), "application/octet-stream");
}

TEST_F(S3RemoteTest, EmptyBlobRoundTrips)
{
    auto remote = open(settings());
    std::string digest = digest_of({});
    ASSERT_TRUE(remote->store(blob(digest), {}));
    EXPECT_TRUE(holds(*remote, digest, 0));
    std::vector<uint8_t> out(5, 1);
    ASSERT_TRUE(remote->fetch(blob(digest), 0, out));
    EXPECT_TRUE(out.empty());
}

TEST_F(S3RemoteTest, BucketWithoutPrefixKeepsTheLayoutAtItsRoot)
{
    auto remote = open(settings(), "");
    EXPECT_EQ(remote->describe(), "s3://" + server("SPOREVM_TEST_S3_BUCKET"));
    auto bytes = pattern(1000, 2);
    std::string digest = digest_of(bytes);
    ASSERT_TRUE(remote->store(blob(digest), bytes));
    EXPECT_EQ(get_object("blobs/sha256/" + digest.substr(7)).body, bytes);
}

TEST_F(S3RemoteTest, PublishIndexWritesOciLayoutAndIndexJson)
{
    auto remote = open(settings());
    std::string index_text = R"({"schemaVersion":2,"manifests":[]})";
    std::vector<uint8_t> index(index_text.begin(), index_text.end());
    std::string digest = digest_of(index);
    ASSERT_TRUE(remote->store({ContentKind::Manifest, digest, ""}, index));
    auto published = remote->publish_index({ContentKind::Manifest, digest, ""}, index);
    ASSERT_TRUE(published) << published.error().message();

    HttpResponse layout = get_object(prefix() + "/oci-layout");
    EXPECT_EQ(layout.status, 200);
    EXPECT_EQ(std::string(layout.body.begin(), layout.body.end()), kLayoutObjectText);
    HttpResponse index_object = get_object(prefix() + "/index.json");
    EXPECT_EQ(index_object.status, 200);
    EXPECT_EQ(index_object.body, index);
    EXPECT_EQ(index_object.header("content-type"), "application/vnd.oci.image.index.v1+json");
    EXPECT_EQ(get_object(prefix() + "/blobs/sha256/" + digest.substr(7)).body, index);
}

TEST_F(S3RemoteTest, MissingBlobIsNotFoundWithS3sCode)
{
    auto remote = open(settings());
    std::string digest = digest_of(pattern(10, 3));
    std::vector<uint8_t> out;
    auto fetched = remote->fetch(blob(digest), 1 << 20, out);
    ASSERT_FALSE(fetched);
    EXPECT_EQ(fetched.error().code(), ErrorCode::NotFound);
    EXPECT_EQ(fetched.error().message().rfind(location_text(prefix()) + ": GET blobs/sha256/"
                      + digest.substr(7) + ": 404 NoSuchKey",
                  0),
        0u)
        << fetched.error().message();
}

TEST_F(S3RemoteTest, MissingBlobIsNotFoundEvenUnderALimitSmallerThanTheErrorDocument)
{
    std::vector<uint8_t> out;
    auto fetched = open(settings())->fetch(blob(digest_of(pattern(10, 4))), 1, out);
    ASSERT_FALSE(fetched);
    EXPECT_EQ(fetched.error().code(), ErrorCode::NotFound) << fetched.error().message();
}

TEST_F(S3RemoteTest, BlobOfExactlyTheLimitIsFetchedAndOneByteOverRefused)
{
    auto remote = open(settings());
    auto bytes = pattern(100000, 5);
    std::string digest = digest_of(bytes);
    ASSERT_TRUE(remote->store(blob(digest), bytes));
    std::vector<uint8_t> out;
    EXPECT_TRUE(remote->fetch(blob(digest), 100000, out));
    auto fetched = remote->fetch(blob(digest), 99999, out);
    ASSERT_FALSE(fetched);
    EXPECT_EQ(fetched.error().code(), ErrorCode::InvalidInput);
    EXPECT_TRUE(contains_text(fetched.error().message(), "99999")) << fetched.error().message();
}

TEST_F(S3RemoteTest, WrongSecretIsRefusedOnFetchWithS3sCodeAndMessage)
{
    auto bytes = pattern(1000, 6);
    std::string digest = digest_of(bytes);
    ASSERT_TRUE(open(settings())->store(blob(digest), bytes));

    std::vector<uint8_t> out;
    auto fetched = open(settings("wrong-secret-value"))->fetch(blob(digest), 1 << 20, out);
    ASSERT_FALSE(fetched);
    EXPECT_EQ(fetched.error().code(), ErrorCode::InvalidInput);
    const std::string& message = fetched.error().message();
    EXPECT_EQ(message.rfind(location_text(prefix()) + ": GET blobs/sha256/" + digest.substr(7)
                      + ": 403 SignatureDoesNotMatch: The request signature we calculated",
                  0),
        0u)
        << message;
    EXPECT_FALSE(contains_text(message, "wrong-secret-value"));
    EXPECT_EQ(message.find('\n'), std::string::npos);
    EXPECT_TRUE(out.empty());
}

TEST_F(S3RemoteTest, WrongSecretIsRefusedOnStoreAndCreatesNothing)
{
    auto bytes = pattern(3 << 20, 7);
    std::string digest = digest_of(bytes);
    auto stored = open(settings("wrong-secret-value"))->store(blob(digest), bytes);
    ASSERT_FALSE(stored);
    EXPECT_TRUE(contains_text(stored.error().message(),
        ": PUT blobs/sha256/" + digest.substr(7) + ": 403 SignatureDoesNotMatch"))
        << stored.error().message();

    EXPECT_FALSE(holds(*open(settings()), digest, bytes.size()));
    EXPECT_FALSE(stored_on_disk(prefix() + "/blobs/sha256/" + digest.substr(7)));
}

TEST_F(S3RemoteTest, WrongSecretIsRefusedOnPublish)
{
    std::vector<uint8_t> index = {'{', '}'};
    auto published = open(settings("wrong"))
                         ->publish_index({ContentKind::Manifest, digest_of(index), ""}, index);
    ASSERT_FALSE(published);
    EXPECT_TRUE(contains_text(published.error().message(), ": PUT oci-layout: 403"));
    EXPECT_FALSE(stored_on_disk(prefix() + "/oci-layout"));
    EXPECT_FALSE(stored_on_disk(prefix() + "/index.json"));
}

TEST_F(S3RemoteTest, WrongSecretIsRefusedOnContainsRatherThanReadAsAbsent)
{
    auto contained = open(settings("wrong"))->contains(blob(digest_of(pattern(1, 8))), 1);
    ASSERT_FALSE(contained);
    EXPECT_TRUE(contains_text(contained.error().message(), ": HEAD blobs/sha256/"));
    EXPECT_TRUE(contains_text(contained.error().message(), ": 403 forbidden"))
        << contained.error().message();
}

TEST_F(S3RemoteTest, UnknownAccessKeyIsRefusedWithS3sCode)
{
    S3Settings unknown = settings();
    unknown.credentials->access_key_id = "AKIDNOBODYHAS";
    std::vector<uint8_t> out;
    auto fetched = open(unknown)->fetch(blob(digest_of(pattern(1, 9))), 100, out);
    ASSERT_FALSE(fetched);
    EXPECT_TRUE(contains_text(fetched.error().message(), ": 403 InvalidAccessKeyId: "))
        << fetched.error().message();
}

TEST_F(S3RemoteTest, UnsignedRequestsWorkWhereTheStoreAllowsAnonymousAccess)
{
    // s3rver serves anonymous callers as AWS serves a public bucket.
    S3Settings anonymous = settings();
    anonymous.credentials.reset();
    auto remote = open(anonymous);
    auto bytes = pattern(50000, 10);
    std::string digest = digest_of(bytes);
    auto stored = remote->store(blob(digest), bytes);
    ASSERT_TRUE(stored) << stored.error().message();
    EXPECT_TRUE(holds(*remote, digest, bytes.size()));
    std::vector<uint8_t> out;
    ASSERT_TRUE(remote->fetch(blob(digest), bytes.size(), out));
    EXPECT_EQ(out, bytes);
    EXPECT_EQ(get_object(prefix() + "/blobs/sha256/" + digest.substr(7)).body, bytes);
}

TEST_F(S3RemoteTest, SessionTokenIsSentAndSignedWithoutBreakingTheSignature)
{
    S3Settings with_token = settings();
    with_token.session_token = "FwoGZXIvYXdzEXAMPLE/token+value==";
    auto remote = open(with_token);
    auto bytes = pattern(20000, 11);
    std::string digest = digest_of(bytes);
    auto stored = remote->store(blob(digest), bytes);
    ASSERT_TRUE(stored) << stored.error().message();
    std::vector<uint8_t> out;
    ASSERT_TRUE(remote->fetch(blob(digest), bytes.size(), out));
    EXPECT_EQ(out, bytes);
}

TEST_F(S3RemoteTest, ConcurrentStoresAndFetchesFromFourThreadsKeepEveryBlob)
{
    auto remote = open(settings());
    constexpr size_t kThreads = 4;
    constexpr size_t kBlobsPerThread = 6;
    std::vector<std::vector<uint8_t>> blobs;
    for (size_t index = 0; index < kThreads * kBlobsPerThread; index++)
        blobs.push_back(pattern(64000 + index * 100003, static_cast<uint8_t>(index)));

    std::vector<std::string> failures(kThreads);
    std::vector<std::thread> threads;
    for (size_t thread = 0; thread < kThreads; thread++) {
        threads.emplace_back([&, thread] {
            std::vector<uint8_t> out;
            for (size_t index = thread; index < blobs.size(); index += kThreads) {
                std::string digest = digest_of(blobs[index]);
                auto stored = remote->store(blob(digest), blobs[index]);
                auto fetched = remote->fetch(blob(digest), 8 << 20, out);
                auto contained = remote->contains(blob(digest), blobs[index].size());
                if (!stored || !fetched || out != blobs[index] || !contained || !*contained)
                    failures[thread] += "blob " + std::to_string(index) + " ";
            }
        });
    }
    for (std::thread& thread : threads)
        thread.join();
    EXPECT_EQ(failures, std::vector<std::string>(kThreads));

    std::vector<uint8_t> out;
    for (const auto& bytes : blobs) {
        ASSERT_TRUE(remote->fetch(blob(digest_of(bytes)), 8 << 20, out));
        EXPECT_EQ(out, bytes);
    }
}

} // namespace
} // namespace spore::remote
