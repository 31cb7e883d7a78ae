#pragma once

// A bundle in an S3 bucket (or any S3-compatible store), kept as an OCI
// image layout under the location's key prefix (remote/layout_store.h).
// Requests are signed with AWS Signature Version 4 by libcurl, or sent
// unsigned when no credentials are configured.

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "common/error.h"
#include "remote/http_client.h"
#include "remote/location.h"
#include "remote/remote.h"

namespace spore::remote {

struct S3Settings {
    // Scheme and host of the endpoint, e.g. "http://127.0.0.1:4569"; AWS's
    // regional endpoint when empty.
    std::string endpoint;
    std::string region = "us-east-1";
    // Unsigned requests when absent.
    std::optional<AwsSigning> credentials;
    // AWS_SESSION_TOKEN, sent as x-amz-security-token when set.
    std::string session_token;
};

// Fills settings from AWS_ENDPOINT_URL_S3 (else AWS_ENDPOINT_URL),
// AWS_REGION (else AWS_DEFAULT_REGION), AWS_ACCESS_KEY_ID,
// AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN. A key id without a secret
// (or the reverse) is an error.
Result<S3Settings> s3_settings_from_environment();

// Checks an endpoint is http(s)://HOST[:PORT], optionally followed by a
// path, with no credentials, query or fragment.
Result<void> validate_s3_endpoint(std::string_view endpoint);

// Checks a region is a plain AWS region name such as "eu-west-1".
Result<void> validate_s3_region(std::string_view region);

// The URL of an object. A custom endpoint is addressed path-style,
// ENDPOINT/BUCKET/KEY, which every S3-compatible store understands. AWS
// is addressed virtual-hosted, https://BUCKET.s3.REGION.amazonaws.com/KEY,
// except for a bucket with '.' in its name, which the wildcard certificate
// does not cover: that goes path-style to https://s3.REGION.amazonaws.com.
std::string s3_object_url(
    const S3Settings& settings, std::string_view bucket, std::string_view key);

// The Code and Message of an S3 error response body (<Error><Code>...
// </Code><Message>...</Message></Error>), with entities decoded and
// anything unprintable blanked; each empty when absent or malformed.
// Reads at most the first 64 KiB of body and keeps at most 64 bytes of
// the code and 512 of the message.
struct S3ErrorDetails {
    std::string code;
    std::string message;
};
S3ErrorDetails parse_s3_error(std::string_view body);

class S3Remote final : public Remote {
public:
    static Result<std::unique_ptr<S3Remote>> create(
        const Location& location, S3Settings settings, std::shared_ptr<HttpClient> http);

    const std::string& describe() const override { return m_description; }
    Result<void> fetch(
        const ContentRef& content, uint64_t max_size, std::vector<uint8_t>& out) override;
    Result<bool> contains(const ContentRef& content, uint64_t size) override;
    Result<void> store(const ContentRef& content, std::span<const uint8_t> bytes) override;
    Result<void> publish_index(const ContentRef& index, std::span<const uint8_t> bytes) override;

private:
    S3Remote(std::string description, std::string bucket, std::string prefix, S3Settings settings,
        std::shared_ptr<HttpClient> http)
        : m_description(std::move(description))
        , m_bucket(std::move(bucket))
        , m_prefix(std::move(prefix))
        , m_settings(std::move(settings))
        , m_http(std::move(http))
    {
    }

    // A request for the object NAME under the prefix, signed when there
    // are credentials; payload_hash is the body's hex SHA-256.
    HttpRequest request(
        std::string method, std::string_view name, std::string_view payload_hash) const;
    Result<void> put(std::string_view name, std::span<const uint8_t> bytes,
        std::string_view payload_hash, std::string_view content_type);
    // The error for a response that is not a success, with S3's code and message.
    Error failure(
        const HttpRequest& request, std::string_view name, const HttpResponse& response) const;
    Result<void> check_digest(const std::string& digest) const;

    std::string m_description;
    std::string m_bucket;
    std::string m_prefix;
    S3Settings m_settings;
    std::shared_ptr<HttpClient> m_http;
};

} // namespace spore::remote
