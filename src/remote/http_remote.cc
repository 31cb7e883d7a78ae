#include "remote/http_remote.h"

#include <algorithm>

#include "remote/layout_store.h"
#include "spore/digest.h"

namespace spore::remote {
namespace {

// How much of an error response is read: enough for any server's error
// page, so a small blob limit does not turn a 404 into "too long".
constexpr uint64_t kErrorBodyLimit = 64 << 10;

} // namespace

Result<std::unique_ptr<HttpRemote>> HttpRemote::create(
    const Location& location, std::shared_ptr<HttpClient> http)
{
    if (location.kind != LocationKind::Http || location.base_url.empty())
        return Error::invalid("not an http or https location: " + location.text);
    return std::unique_ptr<HttpRemote>(
        new HttpRemote(location.text, location.base_url, std::move(http)));
}

Result<HttpRequest> HttpRemote::blob_request(std::string method, const std::string& digest) const
{
    if (!is_valid_digest(digest))
        return Error::invalid(
            m_description + ": \"" + printable_text(digest) + "\" is not a digest");
    HttpRequest request;
    request.method = std::move(method);
    request.url = m_base_url + "/" + blob_object_name("", digest);
    request.max_response_size = kErrorBodyLimit;
    return request;
}

Error HttpRemote::failure(const HttpRequest& request, const HttpResponse& response) const
{
    std::string name = request.url.substr(m_base_url.size() + 1);
    std::string what = m_description + ": " + request.method + " " + name + ": ";
    std::string status = std::to_string(response.status);
    if (response.status == 404)
        return Error::not_found(what + "404 not found");

    if (response.status >= 300 && response.status < 400) {
        std::optional<std::string> target = response.header("location");
        std::string where = target ? "to " + printable_text(resolve_reference(request.url, *target))
                                   : "without a location";
        return Error::invalid(what + "redirect refused: " + status + " " + where
            + "; only the server named in the location is spoken to");
    }
    std::string_view text = status_text(response.status);
    return Error::invalid(
        what + "status " + status + (text.empty() ? "" : " " + std::string(text)));
}

Result<void> HttpRemote::fetch(
    const ContentRef& content, uint64_t max_size, std::vector<uint8_t>& out)
{
    HttpRequest get = TRY(blob_request("GET", content.digest));
    get.max_response_size = std::max(max_size, kErrorBodyLimit);

    HttpResponse response;
    TRY_CONTEXT(m_http->send(get, response), m_description);
    if (response.status != 200)
        return failure(get, response);
    if (response.body.size() > max_size) {
        return Error::invalid(m_description + ": blob " + content.digest + " is "
            + std::to_string(response.body.size()) + " bytes, over the limit of "
            + std::to_string(max_size));
    }
    out = std::move(response.body);
    return {};
}

Result<bool> HttpRemote::contains(const ContentRef& content, uint64_t size)
{
    HttpRequest head = TRY(blob_request("HEAD", content.digest));
    HttpResponse response;
    TRY_CONTEXT(m_http->send(head, response), m_description);
    if (response.status == 404)
        return false;
    if (response.status != 200)
        return failure(head, response);
    return content_length_of(response) == size;
}

Result<void> HttpRemote::store(const ContentRef&, std::span<const uint8_t>)
{
    return Error::not_supported(m_description
        + ": a web server is read-only: pushing needs an s3:// or oci:// destination");
}

Result<void> HttpRemote::publish_index(const ContentRef& index, std::span<const uint8_t> bytes)
{
    return store(index, bytes);
}

} // namespace spore::remote
