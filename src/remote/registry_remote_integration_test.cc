// RegistryRemote against real registries (tests/remote/servers/registry.sh:
// docker-registry 2.8.2 plain, with TLS and Basic auth, and with bearer
// tokens), plus a scripted server on loopback for what a real registry
// here never does: redirect blob reads to storage, or refuse a token.

#include "remote/registry_remote.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cctype>
#include <thread>

#include "remote/testing/integration_support.h"
#include "remote/testing/scripted_server.h"
#include "spore/digest.h"

namespace spore::remote {
namespace {

using testing::contains_text;
using testing::holds;
using testing::pattern;
using testing::ScriptedServer;
using testing::server;

const std::string kEmptyConfigType = "application/vnd.oci.empty.v1+json";
const std::string kChunkType = "application/vnd.sporevm.chunk.v1";
const std::string kSporeManifestType = "application/vnd.sporevm.spore.manifest.v1+json";
const std::string kManifestType = "application/vnd.oci.image.manifest.v1+json";
const std::string kIndexType = "application/vnd.oci.image.index.v1+json";

std::vector<uint8_t> bytes_of(const std::string& text)
{
    return {text.begin(), text.end()};
}

// A repository no other test (or earlier run) uses.
std::string unique_repository()
{
    std::string name = "sporevm-test/" + testing::unique_name();
    for (char& c : name)
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return name;
}

std::unique_ptr<RegistryRemote> open_registry(const std::string& host,
    const std::string& repository, RegistrySettings settings = {},
    std::shared_ptr<HttpClient> http = testing::client_with_test_ca())
{
    Location location = parse_location("oci://" + host + "/" + repository).value();
    return RegistryRemote::create(location, std::move(settings), std::move(http)).value();
}

RegistrySettings with_credentials(const std::string& username, const std::string& password)
{
    RegistrySettings settings;
    settings.credentials = RegistryCredentials{username, password};
    return settings;
}

struct Content {
    ContentRef ref;
    std::vector<uint8_t> bytes;
};

Content content(ContentKind kind, const std::string& media_type, std::vector<uint8_t> bytes)
{
    return {{kind, digest_of(bytes), media_type}, std::move(bytes)};
}

std::string descriptor(const Content& item)
{
    return R"({"mediaType":")" + item.ref.media_type + R"(","digest":")" + item.ref.digest
        + R"(","size":)" + std::to_string(item.bytes.size()) + "}";
}

// The smallest bundle of the real shape: an index listing one spore's OCI
// manifest, whose config is the OCI empty config and whose layers are a
// spore manifest blob and a chunk.
struct TinyBundle {
    Content config, spore_manifest, chunk, manifest, index;

    explicit TinyBundle(uint8_t seed, size_t chunk_size = 3000)
    {
        config = content(ContentKind::Blob, kEmptyConfigType, bytes_of("{}"));
        spore_manifest = content(ContentKind::Blob, kSporeManifestType,
            bytes_of(R"({"spore":)" + std::to_string(seed) + "}"));
        chunk = content(ContentKind::Blob, kChunkType, pattern(chunk_size, seed));
        std::string manifest_text = R"({"schemaVersion":2,"mediaType":")" + kManifestType
            + R"(","artifactType":"application/vnd.sporevm.spore.v1","config":)"
            + descriptor(config) + R"(,"layers":[)" + descriptor(spore_manifest) + ","
            + descriptor(chunk) + "]}";
        manifest = content(ContentKind::Manifest, kManifestType, bytes_of(manifest_text));
        std::string index_text = R"({"schemaVersion":2,"mediaType":")" + kIndexType
            + R"(","manifests":[)" + descriptor(manifest) + "]}";
        index = content(ContentKind::Manifest, kIndexType, bytes_of(index_text));
    }

    std::vector<const Content*> blobs() const { return {&config, &spore_manifest, &chunk}; }
    std::vector<const Content*> all() const
    {
        return {&config, &spore_manifest, &chunk, &manifest, &index};
    }
};

// Pushes the way a pusher does: blobs, manifests, the index, then publish.
void push(Remote& remote, const TinyBundle& bundle)
{
    for (const Content* item : bundle.all()) {
        auto stored = remote.store(item->ref, item->bytes);
        ASSERT_TRUE(stored) << stored.error().message();
    }
    auto published = remote.publish_index(bundle.index.ref, bundle.index.bytes);
    ASSERT_TRUE(published) << published.error().message();
}

void expect_fetches(Remote& remote, const Content& item)
{
    std::vector<uint8_t> out;
    auto fetched = remote.fetch(item.ref, item.bytes.size(), out);
    ASSERT_TRUE(fetched) << fetched.error().message();
    EXPECT_EQ(out, item.bytes) << item.ref.digest;
}

// An error message, or "" when result succeeded.
template <typename T> std::string failure_of(const Result<T>& result)
{
    return result ? "" : result.error().message();
}

// The plain registry without auth; its host is loopback and speaks HTTP,
// so every test here also covers the fall back from HTTPS.
TEST(RegistryPlain, BlobsAndManifestsRoundTrip)
{
    auto remote = open_registry(server("SPOREVM_TEST_REGISTRY"), unique_repository());
    TinyBundle bundle(1);
    for (const Content* item : bundle.all())
        EXPECT_FALSE(holds(*remote, item->ref, item->bytes.size())) << item->ref.digest;
    push(*remote, bundle);
    for (const Content* item : bundle.all()) {
        EXPECT_TRUE(holds(*remote, item->ref, item->bytes.size())) << item->ref.digest;
        EXPECT_FALSE(holds(*remote, item->ref, item->bytes.size() + 1)) << item->ref.digest;
        expect_fetches(*remote, *item);
    }
}

TEST(RegistryPlain, ChunkOfTwoMebibytesAndEmptyBlobRoundTrip)
{
    auto remote = open_registry(server("SPOREVM_TEST_REGISTRY"), unique_repository());
    Content chunk = content(ContentKind::Blob, kChunkType, pattern(2 << 20, 7));
    Content empty = content(ContentKind::Blob, kChunkType, {});
    for (const Content* item : {&chunk, &empty}) {
        auto stored = remote->store(item->ref, item->bytes);
        ASSERT_TRUE(stored) << stored.error().message();
        expect_fetches(*remote, *item);
    }
}

TEST(RegistryPlain, PlainHttpSettingWorksWithoutProbing)
{
    RegistrySettings settings;
    settings.plain_http = true;
    auto remote = open_registry(server("SPOREVM_TEST_REGISTRY"), unique_repository(), settings);
    TinyBundle bundle(2);
    push(*remote, bundle);
    expect_fetches(*remote, bundle.index);
}

TEST(RegistryPlain, PublishIndexTagsTheIndex)
{
    std::string repository = unique_repository();
    auto remote = open_registry(server("SPOREVM_TEST_REGISTRY"), repository + ":v1");
    TinyBundle bundle(3);
    push(*remote, bundle);

    HttpRequest request;
    request.url
        = "http://" + server("SPOREVM_TEST_REGISTRY") + "/v2/" + repository + "/manifests/v1";
    request.headers.push_back("Accept: " + kIndexType);
    auto response = testing::client_with_test_ca()->send(request);
    ASSERT_TRUE(response) << response.error().message();
    EXPECT_EQ(response->status, 200);
    EXPECT_EQ(response->header("docker-content-digest"), bundle.index.ref.digest);
    EXPECT_EQ(response->body, bundle.index.bytes);
}

TEST(RegistryPlain, PublishIndexWithoutTagLeavesItByDigest)
{
    auto remote = open_registry(server("SPOREVM_TEST_REGISTRY"), unique_repository());
    TinyBundle bundle(4);
    push(*remote, bundle);
    expect_fetches(*remote, bundle.index);
}

TEST(RegistryPlain, MissingBlobIsNotFoundNamingTheRegistryError)
{
    auto remote = open_registry(server("SPOREVM_TEST_REGISTRY"), unique_repository());
    TinyBundle bundle(5);
    std::vector<uint8_t> out;
    auto fetched = remote->fetch(bundle.chunk.ref, 1 << 20, out);
    ASSERT_FALSE(fetched);
    EXPECT_EQ(fetched.error().code(), ErrorCode::NotFound);
    std::string expected = remote->describe() + ": GET blob " + bundle.chunk.ref.digest
        + ": 404 BLOB_UNKNOWN: blob unknown to registry";
    EXPECT_EQ(fetched.error().message(), expected);
}

TEST(RegistryPlain, MissingManifestIsNotFoundEvenUnderATinyLimit)
{
    auto remote = open_registry(server("SPOREVM_TEST_REGISTRY"), unique_repository());
    TinyBundle bundle(6);
    std::vector<uint8_t> out;
    auto fetched = remote->fetch(bundle.manifest.ref, 2, out);
    ASSERT_FALSE(fetched);
    EXPECT_EQ(fetched.error().code(), ErrorCode::NotFound);
    EXPECT_TRUE(contains_text(fetched.error().message(), "MANIFEST_UNKNOWN"));
}

TEST(RegistryPlain, BlobOverTheLimitIsRefused)
{
    auto remote = open_registry(server("SPOREVM_TEST_REGISTRY"), unique_repository());
    TinyBundle bundle(7, 200000);
    push(*remote, bundle);
    for (uint64_t limit : {uint64_t{2999}, uint64_t{199999}}) {
        std::vector<uint8_t> out;
        auto fetched = remote->fetch(bundle.chunk.ref, limit, out);
        EXPECT_FALSE(fetched) << limit;
        EXPECT_TRUE(contains_text(failure_of(fetched), "longer than")) << failure_of(fetched);
    }
    expect_fetches(*remote, bundle.chunk);
}

TEST(RegistryPlain, ManifestUnderTheWrongDigestIsRefused)
{
    auto remote = open_registry(server("SPOREVM_TEST_REGISTRY"), unique_repository());
    TinyBundle bundle(8);
    for (const Content* item : bundle.blobs())
        ASSERT_TRUE(remote->store(item->ref, item->bytes));
    ContentRef wrong = bundle.manifest.ref;
    wrong.digest = bundle.chunk.ref.digest;
    auto stored = remote->store(wrong, bundle.manifest.bytes);
    EXPECT_TRUE(contains_text(failure_of(stored), "400 DIGEST_INVALID")) << failure_of(stored);
}

TEST(RegistryPlain, ManifestBeforeItsBlobsIsRefused)
{
    auto remote = open_registry(server("SPOREVM_TEST_REGISTRY"), unique_repository());
    TinyBundle bundle(9);
    auto stored = remote->store(bundle.index.ref, bundle.index.bytes);
    EXPECT_TRUE(contains_text(failure_of(stored), "MANIFEST_BLOB_UNKNOWN")) << failure_of(stored);
}

TEST(RegistryPlain, MalformedDigestIsRefusedBeforeAnyRequest)
{
    auto remote = open_registry(server("SPOREVM_TEST_REGISTRY"), unique_repository());
    std::vector<uint8_t> out;
    auto fetched = remote->fetch({ContentKind::Blob, "sha256:../../v2/_catalog", ""}, 100, out);
    EXPECT_TRUE(contains_text(failure_of(fetched), "not a sha256 digest"));
    ContentRef injected{ContentKind::Manifest, digest_of(out), "a/b\r\nX-Evil: 1"};
    EXPECT_TRUE(contains_text(failure_of(remote->fetch(injected, 100, out)), "media type"));
}

// Stores 16 chunks through pusher, then fetches each from 4 threads at
// once through puller; returns how many fetches gave the right bytes.
int fetch_concurrently(Remote& pusher, Remote& puller)
{
    std::vector<Content> chunks;
    for (uint8_t seed = 0; seed < 16; seed++) {
        chunks.push_back(content(ContentKind::Blob, kChunkType, pattern(64 << 10, seed)));
        auto stored = pusher.store(chunks.back().ref, chunks.back().bytes);
        EXPECT_TRUE(stored) << failure_of(stored);
    }
    std::atomic<int> good{0};
    std::vector<std::thread> threads;
    for (int thread = 0; thread < 4; thread++) {
        threads.emplace_back([&] {
            std::vector<uint8_t> out;
            for (const Content& chunk : chunks) {
                if (puller.fetch(chunk.ref, chunk.bytes.size(), out) && out == chunk.bytes)
                    good++;
            }
        });
    }
    for (std::thread& thread : threads)
        thread.join();
    return good;
}

TEST(RegistryPlain, ConcurrentFetchesFromFourThreadsAllSucceed)
{
    auto remote = open_registry(server("SPOREVM_TEST_REGISTRY"), unique_repository());
    EXPECT_EQ(fetch_concurrently(*remote, *remote), 4 * 16);
}

// The TLS registry with htpasswd Basic auth.
RegistrySettings tls_credentials()
{
    return with_credentials(
        server("SPOREVM_TEST_REGISTRY_TLS_USERNAME"), server("SPOREVM_TEST_REGISTRY_TLS_PASSWORD"));
}

TEST(RegistryTls, CredentialsAndTheTestCaRoundTrip)
{
    auto remote = open_registry(
        server("SPOREVM_TEST_REGISTRY_TLS"), unique_repository() + ":latest", tls_credentials());
    TinyBundle bundle(10);
    push(*remote, bundle);
    for (const Content* item : bundle.all()) {
        EXPECT_TRUE(holds(*remote, item->ref, item->bytes.size()));
        expect_fetches(*remote, *item);
    }
}

TEST(RegistryTls, WithoutCredentialsTheErrorSaysHowToGiveThem)
{
    auto remote = open_registry(server("SPOREVM_TEST_REGISTRY_TLS"), unique_repository());
    TinyBundle bundle(11);
    std::vector<uint8_t> out;
    std::string message = failure_of(remote->fetch(bundle.chunk.ref, 1 << 20, out));
    EXPECT_TRUE(contains_text(message, "401 UNAUTHORIZED")) << message;
    EXPECT_TRUE(contains_text(message, "SPOREVM_REGISTRY_USERNAME")) << message;
    EXPECT_TRUE(contains_text(failure_of(remote->contains(bundle.chunk.ref, 1)), "credentials"));
}

TEST(RegistryTls, WrongPasswordIsUnauthorized)
{
    std::string password = server("SPOREVM_TEST_REGISTRY_TLS_PASSWORD") + "-wrong";
    auto remote = open_registry(server("SPOREVM_TEST_REGISTRY_TLS"), unique_repository(),
        with_credentials(server("SPOREVM_TEST_REGISTRY_TLS_USERNAME"), password));
    TinyBundle bundle(12);
    std::string message = failure_of(remote->store(bundle.chunk.ref, bundle.chunk.bytes));
    EXPECT_TRUE(contains_text(message, "unauthorized")) << message;
    EXPECT_FALSE(contains_text(message, password)) << message;
}

TEST(RegistryTls, WithoutTheTestCaTheCertificateIsRefused)
{
    auto remote = open_registry(server("SPOREVM_TEST_REGISTRY_TLS"), unique_repository(),
        tls_credentials(), HttpClient::create({}).value());
    TinyBundle bundle(13);
    std::vector<uint8_t> out;
    std::string message = failure_of(remote->fetch(bundle.chunk.ref, 1 << 20, out));
    EXPECT_TRUE(contains_text(message, "certificate")) << message;
    EXPECT_TRUE(contains_text(message, remote->describe() + ": GET blob")) << message;
}

// The registry that wants bearer tokens: pull for anyone, push for the pusher.
RegistrySettings pusher()
{
    return with_credentials(server("SPOREVM_TEST_REGISTRY_TOKEN_USERNAME"),
        server("SPOREVM_TEST_REGISTRY_TOKEN_PASSWORD"));
}

TEST(RegistryToken, PusherStoresAndAnonymousFetches)
{
    std::string repository = unique_repository();
    TinyBundle bundle(14);
    push(*open_registry(server("SPOREVM_TEST_REGISTRY_TOKEN"), repository + ":v2", pusher()),
        bundle);

    auto anonymous = open_registry(server("SPOREVM_TEST_REGISTRY_TOKEN"), repository);
    for (const Content* item : bundle.all()) {
        EXPECT_TRUE(holds(*anonymous, item->ref, item->bytes.size()));
        expect_fetches(*anonymous, *item);
    }
}

TEST(RegistryToken, AnonymousStoreIsRefusedForScope)
{
    auto remote = open_registry(server("SPOREVM_TEST_REGISTRY_TOKEN"), unique_repository());
    TinyBundle bundle(15);
    std::string message = failure_of(remote->store(bundle.chunk.ref, bundle.chunk.bytes));
    EXPECT_TRUE(contains_text(message, "unauthorized")) << message;
    EXPECT_TRUE(contains_text(message, "insufficient_scope")) << message;
    EXPECT_TRUE(contains_text(message, "SPOREVM_REGISTRY_USERNAME")) << message;
}

TEST(RegistryToken, WrongPasswordIsRefusedByTheTokenServer)
{
    auto remote = open_registry(server("SPOREVM_TEST_REGISTRY_TOKEN"), unique_repository(),
        with_credentials(server("SPOREVM_TEST_REGISTRY_TOKEN_USERNAME"), "wrong"));
    TinyBundle bundle(16);
    std::string message = failure_of(remote->store(bundle.chunk.ref, bundle.chunk.bytes));
    EXPECT_TRUE(contains_text(message, "token from http://")) << message;
    EXPECT_TRUE(contains_text(message, "credentials refused")) << message;
}

TEST(RegistryToken, ConcurrentAnonymousFetchesFromFourThreadsAllSucceed)
{
    std::string repository = unique_repository();
    auto pushing = open_registry(server("SPOREVM_TEST_REGISTRY_TOKEN"), repository, pusher());
    auto anonymous = open_registry(server("SPOREVM_TEST_REGISTRY_TOKEN"), repository);
    EXPECT_EQ(fetch_concurrently(*pushing, *anonymous), 4 * 16);
}

TEST(RegistryToken, MissingBlobIsNotFoundWithAnAnonymousToken)
{
    auto remote = open_registry(server("SPOREVM_TEST_REGISTRY_TOKEN"), unique_repository());
    TinyBundle bundle(17);
    std::vector<uint8_t> out;
    auto fetched = remote->fetch(bundle.chunk.ref, 1 << 20, out);
    ASSERT_FALSE(fetched);
    EXPECT_EQ(fetched.error().code(), ErrorCode::NotFound) << fetched.error().message();
}

std::string http_response(const std::string& status, const std::vector<std::string>& headers,
    const std::string& body = "")
{
    std::string text = "HTTP/1.1 " + status
        + "\r\nConnection: close\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
    for (const std::string& header : headers)
        text += header + "\r\n";
    return text + "\r\n" + body;
}

std::string request_path(const std::string& head)
{
    size_t start = head.find(' ') + 1;
    return head.substr(start, head.find(' ', start) - start);
}

// Settings for a scripted registry, which speaks plain HTTP only.
RegistrySettings plain_http_settings()
{
    RegistrySettings settings;
    settings.plain_http = true;
    return settings;
}

RegistrySettings plain_with_credentials()
{
    RegistrySettings settings = with_credentials("user", "secret");
    settings.plain_http = true;
    return settings;
}

TEST(RegistryRedirect, BlobReadFollowsRedirectToStorageWithoutCredentials)
{
    std::string body = "chunk bytes";
    ScriptedServer storage([&](const std::string&) { return http_response("200 OK", {}, body); });
    ScriptedServer registry([&](const std::string& head) {
        if (!contains_text(head, "Authorization: Basic"))
            return http_response("401 Unauthorized", {"WWW-Authenticate: Basic realm=\"r\""});
        if (contains_text(head, "/v2/repo/blobs/"))
            return http_response("307 Temporary Redirect", {"Location: /v2/repo/moved"});
        return http_response("302 Found", {"Location: http://" + storage.host() + "/stored?sig=1"});
    });
    auto remote = open_registry(registry.host(), "repo", plain_with_credentials());
    Content chunk = content(ContentKind::Blob, kChunkType, bytes_of(body));
    expect_fetches(*remote, chunk);

    // The registry's own relative redirect kept the credentials; storage got none.
    std::vector<std::string> registry_heads = registry.heads();
    ASSERT_EQ(registry_heads.size(), 3u);
    EXPECT_EQ(request_path(registry_heads[2]), "/v2/repo/moved");
    EXPECT_TRUE(contains_text(registry_heads[2], "Authorization: Basic"));
    std::vector<std::string> storage_heads = storage.heads();
    ASSERT_EQ(storage_heads.size(), 1u);
    EXPECT_EQ(request_path(storage_heads[0]), "/stored?sig=1");
    EXPECT_FALSE(contains_text(storage_heads[0], "Authorization")) << storage_heads[0];
}

TEST(RegistryRedirect, RedirectLoopEndsAfterFiveHops)
{
    ScriptedServer registry(
        [](const std::string&) { return http_response("302 Found", {"Location: /again"}); });
    auto remote = open_registry(registry.host(), "repo", plain_http_settings());
    std::vector<uint8_t> out;
    Content chunk = content(ContentKind::Blob, kChunkType, bytes_of("x"));
    std::string message = failure_of(remote->fetch(chunk.ref, 100, out));
    EXPECT_TRUE(contains_text(message, "more than 5 redirects")) << message;
    EXPECT_EQ(registry.heads().size(), 6u);
}

TEST(RegistryRedirect, ManifestRedirectIsNotFollowed)
{
    ScriptedServer registry(
        [](const std::string&) { return http_response("302 Found", {"Location: /elsewhere"}); });
    auto remote = open_registry(registry.host(), "repo", plain_http_settings());
    std::vector<uint8_t> out;
    Content manifest = content(ContentKind::Manifest, kManifestType, bytes_of("{}"));
    std::string message = failure_of(remote->fetch(manifest.ref, 100, out));
    EXPECT_TRUE(contains_text(message, ": 302")) << message;
    EXPECT_EQ(registry.heads().size(), 1u);
}

// A registry and its token realm on one scripted server.
class ScriptedTokenRegistry {
public:
    explicit ScriptedTokenRegistry(bool accept_tokens)
        : m_server(
            [this, accept_tokens](const std::string& head) { return answer(head, accept_tokens); })
    {
    }

    std::string host() const { return m_server.host(); }
    size_t token_requests()
    {
        size_t count = 0;
        for (const std::string& head : m_server.heads())
            count += request_path(head).starts_with("/token?") ? 1 : 0;
        return count;
    }

private:
    std::string answer(const std::string& head, bool accept_tokens)
    {
        if (request_path(head).starts_with("/token?"))
            return http_response("200 OK", {}, R"({"token":"scripted-token","expires_in":300})");
        if (accept_tokens && contains_text(head, "Authorization: Bearer scripted-token"))
            return http_response("200 OK", {}, "blob");
        std::string challenge
            = "WWW-Authenticate: Bearer realm=\"http://" + host() + "/token\",service=\"scripted\"";
        return http_response("401 Unauthorized", {challenge},
            R"({"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]})");
    }

    ScriptedServer m_server;
};

TEST(RegistryScriptedToken, TokenIsFetchedOnceAndSentUpFront)
{
    ScriptedTokenRegistry registry(true);
    auto remote = open_registry(registry.host(), "repo", plain_http_settings());
    Content blob = content(ContentKind::Blob, kChunkType, bytes_of("blob"));
    for (int round = 0; round < 3; round++)
        expect_fetches(*remote, blob);
    EXPECT_EQ(registry.token_requests(), 1u);
}

TEST(RegistryScriptedToken, TokenStillRefusedIsUnauthorized)
{
    ScriptedTokenRegistry registry(false);
    auto remote = open_registry(registry.host(), "repo", plain_http_settings());
    std::vector<uint8_t> out;
    Content blob = content(ContentKind::Blob, kChunkType, bytes_of("blob"));
    std::string message = failure_of(remote->fetch(blob.ref, 100, out));
    EXPECT_TRUE(contains_text(message, "unauthorized: 401 UNAUTHORIZED: authentication required"))
        << message;
}

TEST(RegistryScriptedToken, HostileChallengeIsACleanError)
{
    ScriptedServer registry([](const std::string&) {
        return http_response(
            "401 Unauthorized", {"WWW-Authenticate: Bearer realm=\"file:///etc/passwd\"", "X: y"});
    });
    auto remote = open_registry(registry.host(), "repo", plain_http_settings());
    std::vector<uint8_t> out;
    Content blob = content(ContentKind::Blob, kChunkType, bytes_of("blob"));
    std::string message = failure_of(remote->fetch(blob.ref, 100, out));
    EXPECT_TRUE(contains_text(message, "not an http or https url")) << message;
    EXPECT_EQ(registry.heads().size(), 1u);
}

} // namespace
} // namespace spore::remote
