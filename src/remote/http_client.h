#pragma once

// HTTP(S) requests through libcurl, shaped for moving verified content:
// TLS peers are always verified, redirects are never followed (callers
// that accept one see the 3xx and decide), response bodies are bounded,
// and only http and https are spoken. One client holds a pool of
// connections, so concurrent requests each reuse their own.

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/error.h"

namespace spore::remote {

struct HttpOptions {
    // CA bundle to verify servers with; the system's when empty.
    std::string ca_file;
    // Seconds to wait for a connection, and the stall limit of a transfer:
    // less than 1 KiB/s for this long fails it.
    long connect_timeout_seconds = 30;
    long stall_seconds = 60;
};

struct AwsSigning {
    std::string access_key_id;
    std::string secret_access_key;
    std::string region;
    std::string service = "s3";
};

struct HttpRequest {
    std::string method = "GET";
    std::string url;
    // "Name: value" lines.
    std::vector<std::string> headers;
    std::span<const uint8_t> body;
    // A response body longer than this fails the request.
    uint64_t max_response_size = 1 << 20;
    // Sign with AWS Signature Version 4 (libcurl's signer).
    const AwsSigning* aws = nullptr;
    // Basic credentials, "user:password".
    std::optional<std::string> basic_auth;
};

struct HttpResponse {
    long status = 0;
    // Header names in lower case, values trimmed, in arrival order.
    std::vector<std::pair<std::string, std::string>> headers;
    std::vector<uint8_t> body;

    // The first header of that (lower-case) name.
    std::optional<std::string> header(std::string_view name) const;
    // The body as text for error messages: printable, at most limit bytes.
    std::string body_excerpt(size_t limit = 200) const;
};

class HttpClient {
public:
    static Result<std::unique_ptr<HttpClient>> create(const HttpOptions& options);
    ~HttpClient();
    HttpClient(const HttpClient&) = delete;
    HttpClient& operator=(const HttpClient&) = delete;

    // Sends a request and returns whatever status came back; errors are
    // transport failures only (no connection, TLS, timeout, body too long).
    // Into out when given, so a caller can reuse one buffer.
    Result<HttpResponse> send(const HttpRequest& request);
    Result<void> send(const HttpRequest& request, HttpResponse& out);

    const HttpOptions& options() const { return m_options; }

private:
    explicit HttpClient(HttpOptions options)
        : m_options(std::move(options))
    {
    }

    // libcurl easy handles, each keeping its connections alive between
    // requests; taken by one request at a time.
    void* acquire_handle();
    void release_handle(void* handle);

    HttpOptions m_options;
    std::mutex m_lock;
    std::vector<void*> m_idle_handles;
};

// Whether status is 2xx.
inline bool is_success(long status)
{
    return status >= 200 && status < 300;
}

// A short lower-case reason phrase for a common status ("not found"),
// empty for others.
std::string_view status_text(long status);

// The Content-Length a response announced; none when absent or malformed.
std::optional<uint64_t> content_length_of(const HttpResponse& response);

// Text from a peer made safe for a one-line message: printable ASCII, the
// rest blanked, at most limit bytes, "..." marking a cut.
std::string printable_text(std::string_view text, size_t limit = 200);

// Resolves a Location header against the URL it answered.
std::string resolve_reference(const std::string& base_url, const std::string& reference);

// The CA bundle the environment asks for: SSL_CERT_FILE, else empty.
std::string ca_file_from_environment();

} // namespace spore::remote
