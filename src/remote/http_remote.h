#pragma once

// A bundle served by a static web server as an OCI image layout under the
// location's path (remote/layout_store.h). Read-only: pushing needs S3 or
// a registry. A redirect is refused, never followed: the server named in
// the location is the only one spoken to.

#include <memory>
#include <string>

#include "common/error.h"
#include "remote/http_client.h"
#include "remote/location.h"
#include "remote/remote.h"

namespace spore::remote {

class HttpRemote final : public Remote {
public:
    static Result<std::unique_ptr<HttpRemote>> create(
        const Location& location, std::shared_ptr<HttpClient> http);

    const std::string& describe() const override { return m_description; }
    Result<void> fetch(
        const ContentRef& content, uint64_t max_size, std::vector<uint8_t>& out) override;
    Result<bool> contains(const ContentRef& content, uint64_t size) override;
    // Both refuse with NotSupported.
    Result<void> store(const ContentRef& content, std::span<const uint8_t> bytes) override;
    Result<void> publish_index(const ContentRef& index, std::span<const uint8_t> bytes) override;

private:
    HttpRemote(std::string description, std::string base_url, std::shared_ptr<HttpClient> http)
        : m_description(std::move(description))
        , m_base_url(std::move(base_url))
        , m_http(std::move(http))
    {
    }

    // A request for the blob with this digest, after checking its form.
    Result<HttpRequest> blob_request(std::string method, const std::string& digest) const;
    // The error for a response other than 200, refusing any redirect.
    Error failure(const HttpRequest& request, const HttpResponse& response) const;

    std::string m_description;
    std::string m_base_url;
    std::shared_ptr<HttpClient> m_http;
};

} // namespace spore::remote
