#include "remote/s3_remote.h"

#include <algorithm>
#include <cstdlib>

#include "remote/layout_store.h"
#include "spore/digest.h"

namespace spore::remote {
namespace {

// The hex SHA-256 of no bytes: the payload hash of every GET and HEAD.
constexpr std::string_view kEmptyPayloadHash
    = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

// How much of an error response is read, and of it parsed. S3 error
// documents are a few hundred bytes; this leaves room for any store.
constexpr size_t kErrorBodyLimit = 64 << 10;
constexpr size_t kMaxErrorCodeLength = 64;
constexpr size_t kMaxErrorMessageLength = 512;

constexpr size_t kMaxEndpointLength = 2048;
constexpr size_t kMaxRegionLength = 64;

constexpr std::string_view kIndexMediaType = "application/vnd.oci.image.index.v1+json";

std::string environment(const char* name)
{
    const char* value = std::getenv(name);
    return value ? value : "";
}

// The first of two variables that is set and not empty.
std::string environment(const char* name, const char* fallback)
{
    std::string value = environment(name);
    return value.empty() ? environment(fallback) : value;
}

bool is_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

// Host names, IPv4 and bracketed IPv6 addresses, and a port.
bool is_authority_character(char c)
{
    return is_alnum(c) || c == '.' || c == '-' || c == ':' || c == '[' || c == ']';
}

// Unreserved URL characters and '/', so a path needs no escaping.
bool is_path_character(char c)
{
    return is_alnum(c) || c == '.' || c == '_' || c == '-' || c == '~' || c == '/';
}

// Control characters in a header value would end the header early.
bool is_header_safe(std::string_view value)
{
    return std::all_of(value.begin(), value.end(), [](char c) { return c >= 0x20 && c != 0x7f; });
}

// The character an XML entity at the start of text stands for, and the
// entity's length; '\0' when text does not start with one this reads.
std::pair<char, size_t> decode_entity(std::string_view text)
{
    static constexpr std::pair<std::string_view, char> kEntities[] = {
        {"&lt;", '<'},
        {"&gt;", '>'},
        {"&amp;", '&'},
        {"&quot;", '"'},
        {"&apos;", '\''},
    };
    for (const auto& [entity, character] : kEntities) {
        if (text.starts_with(entity))
            return {character, entity.size()};
    }
    return {'\0', 0};
}

// Element content as one printable line of at most limit bytes; empty if
// it holds markup, which an error code or message never does.
std::string decode_xml_text(std::string_view text, size_t limit)
{
    if (text.find('<') != std::string_view::npos)
        return {};
    std::string result;
    size_t index = 0;
    while (index < text.size() && result.size() < limit) {
        auto [character, length] = decode_entity(text.substr(index));
        if (length == 0) {
            character = text[index];
            length = 1;
        }
        result += (character >= 0x20 && character < 0x7f) ? character : ' ';
        index += length;
    }
    size_t first = result.find_first_not_of(' ');
    if (first == std::string::npos)
        return {};
    return result.substr(first, result.find_last_not_of(' ') + 1 - first);
}

// The content of the first <tag>...</tag> in xml.
std::string element_text(std::string_view xml, std::string_view tag, size_t limit)
{
    std::string open = "<" + std::string(tag) + ">";
    std::string close = "</" + std::string(tag) + ">";
    size_t start = xml.find(open);
    if (start == std::string_view::npos)
        return {};
    start += open.size();
    size_t end = xml.find(close, start);
    if (end == std::string_view::npos)
        return {};
    return decode_xml_text(xml.substr(start, end - start), limit);
}

std::string_view as_text(const std::vector<uint8_t>& bytes)
{
    return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
}

std::string hex_digest_of(std::span<const uint8_t> bytes)
{
    return digest_of(bytes).substr(kDigestPrefix.size());
}

} // namespace

Result<S3Settings> s3_settings_from_environment()
{
    S3Settings settings;
    settings.endpoint = environment("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL");
    std::string region = environment("AWS_REGION", "AWS_DEFAULT_REGION");
    if (!region.empty())
        settings.region = region;

    std::string access_key_id = environment("AWS_ACCESS_KEY_ID");
    std::string secret_access_key = environment("AWS_SECRET_ACCESS_KEY");
    settings.session_token = environment("AWS_SESSION_TOKEN");
    if (!access_key_id.empty() && secret_access_key.empty())
        return Error::invalid(
            "s3 credentials: AWS_ACCESS_KEY_ID is set without AWS_SECRET_ACCESS_KEY");
    if (access_key_id.empty() && !secret_access_key.empty())
        return Error::invalid(
            "s3 credentials: AWS_SECRET_ACCESS_KEY is set without AWS_ACCESS_KEY_ID");
    if (access_key_id.empty() && !settings.session_token.empty())
        return Error::invalid("s3 credentials: AWS_SESSION_TOKEN is set without an access key");

    if (!access_key_id.empty())
        settings.credentials = AwsSigning{access_key_id, secret_access_key, settings.region, "s3"};
    return settings;
}

Result<void> validate_s3_endpoint(std::string_view endpoint)
{
    // Credentials in the URL are refused without echoing them.
    if (endpoint.find('@') != std::string_view::npos) {
        return Error::invalid("s3 endpoint: must not hold credentials; "
                              "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY instead");
    }
    auto refuse = [&](const std::string& problem) {
        return Error::invalid("s3 endpoint \"" + printable_text(endpoint) + "\": " + problem);
    };
    if (endpoint.size() > kMaxEndpointLength)
        return refuse("longer than " + std::to_string(kMaxEndpointLength) + " bytes");

    std::string_view rest;
    if (endpoint.starts_with("http://"))
        rest = endpoint.substr(7);
    else if (endpoint.starts_with("https://"))
        rest = endpoint.substr(8);
    else
        return refuse("must start with http:// or https://");

    size_t slash = rest.find('/');
    std::string_view authority = rest.substr(0, slash);
    std::string_view path = slash == std::string_view::npos ? "" : rest.substr(slash);
    if (authority.empty())
        return refuse("has no host");
    if (!std::all_of(authority.begin(), authority.end(), is_authority_character))
        return refuse("must name a host and optionally a port");
    if (!std::all_of(path.begin(), path.end(), is_path_character))
        return refuse("may hold no query, fragment or escaped characters");
    return {};
}

Result<void> validate_s3_region(std::string_view region)
{
    auto is_region_character
        = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'; };
    bool valid = !region.empty() && region.size() <= kMaxRegionLength
        && std::all_of(region.begin(), region.end(), is_region_character) && region.front() != '-'
        && region.back() != '-';
    if (!valid) {
        return Error::invalid("s3 region \"" + printable_text(region, kMaxRegionLength)
            + "\": must be lower-case letters, digits and '-', like us-east-1");
    }
    return {};
}

std::string s3_object_url(const S3Settings& settings, std::string_view bucket, std::string_view key)
{
    std::string path = std::string(bucket) + "/" + std::string(key);
    if (!settings.endpoint.empty()) {
        std::string_view base = settings.endpoint;
        while (base.ends_with('/'))
            base.remove_suffix(1);
        return std::string(base) + "/" + path;
    }
    std::string regional = "s3." + settings.region + ".amazonaws.com";
    if (bucket.find('.') != std::string_view::npos)
        return "https://" + regional + "/" + path;
    return "https://" + std::string(bucket) + "." + regional + "/" + std::string(key);
}

S3ErrorDetails parse_s3_error(std::string_view body)
{
    std::string_view xml = body.substr(0, std::min(body.size(), kErrorBodyLimit));
    return {element_text(xml, "Code", kMaxErrorCodeLength),
        element_text(xml, "Message", kMaxErrorMessageLength)};
}

Result<std::unique_ptr<S3Remote>> S3Remote::create(
    const Location& location, S3Settings settings, std::shared_ptr<HttpClient> http)
{
    if (location.kind != LocationKind::S3 || location.bucket.empty())
        return Error::invalid("not an s3 location: " + location.text);
    if (!settings.endpoint.empty())
        TRY_CONTEXT(validate_s3_endpoint(settings.endpoint), location.text);
    TRY_CONTEXT(validate_s3_region(settings.region), location.text);

    if (!settings.session_token.empty() && !settings.credentials)
        return Error::invalid(location.text + ": an s3 session token needs an access key");
    if (settings.credentials) {
        const AwsSigning& credentials = *settings.credentials;
        bool safe = is_header_safe(credentials.access_key_id)
            && is_header_safe(credentials.secret_access_key)
            && is_header_safe(settings.session_token);
        if (!safe)
            return Error::invalid(location.text + ": s3 credentials hold control characters");
        // Requests are signed for the region they go to, however it was chosen.
        settings.credentials->region = settings.region;
    }
    return std::unique_ptr<S3Remote>(new S3Remote(
        location.text, location.bucket, location.prefix, std::move(settings), std::move(http)));
}

HttpRequest S3Remote::request(
    std::string method, std::string_view name, std::string_view payload_hash) const
{
    HttpRequest request;
    request.method = std::move(method);
    request.url = s3_object_url(m_settings, m_bucket, object_name(m_prefix, name));
    // S3 refuses a signed request without the payload hash; libcurl signs
    // this header but does not add it.
    request.headers.push_back("x-amz-content-sha256: " + std::string(payload_hash));
    if (m_settings.credentials) {
        request.aws = &*m_settings.credentials;
        if (!m_settings.session_token.empty())
            request.headers.push_back("x-amz-security-token: " + m_settings.session_token);
    }
    request.max_response_size = kErrorBodyLimit;
    return request;
}

Error S3Remote::failure(
    const HttpRequest& request, std::string_view name, const HttpResponse& response) const
{
    std::string text = m_description + ": " + request.method + " " + std::string(name) + ": "
        + std::to_string(response.status);
    S3ErrorDetails details = parse_s3_error(as_text(response.body));
    if (!details.code.empty())
        text += " " + details.code;
    else if (!status_text(response.status).empty())
        text += " " + std::string(status_text(response.status));
    if (!details.message.empty())
        text += ": " + details.message;

    // AWS names the bucket's region when a request went to another one.
    std::optional<std::string> region = response.header("x-amz-bucket-region");
    if (region && *region != m_settings.region)
        text += " (the bucket is in region " + printable_text(*region, kMaxRegionLength) + ")";
    return Error(response.status == 404 ? ErrorCode::NotFound : ErrorCode::InvalidInput, text);
}

Result<void> S3Remote::check_digest(const std::string& digest) const
{
    if (!is_valid_digest(digest))
        return Error::invalid(
            m_description + ": \"" + printable_text(digest) + "\" is not a digest");
    return {};
}

Result<void> S3Remote::fetch(
    const ContentRef& content, uint64_t max_size, std::vector<uint8_t>& out)
{
    TRY(check_digest(content.digest));
    std::string name = blob_object_name("", content.digest);
    HttpRequest get = request("GET", name, kEmptyPayloadHash);
    // An error document is read whole even when the blob limit is smaller.
    get.max_response_size = std::max<uint64_t>(max_size, kErrorBodyLimit);

    HttpResponse response;
    TRY_CONTEXT(m_http->send(get, response), m_description);
    if (response.status != 200)
        return failure(get, name, response);
    if (response.body.size() > max_size) {
        return Error::invalid(m_description + ": GET " + name + ": "
            + std::to_string(response.body.size()) + " bytes, over the limit of "
            + std::to_string(max_size));
    }
    out = std::move(response.body);
    return {};
}

Result<bool> S3Remote::contains(const ContentRef& content, uint64_t size)
{
    TRY(check_digest(content.digest));
    std::string name = blob_object_name("", content.digest);
    HttpRequest head = request("HEAD", name, kEmptyPayloadHash);

    HttpResponse response;
    TRY_CONTEXT(m_http->send(head, response), m_description);
    if (response.status == 404)
        return false;
    if (response.status != 200)
        return failure(head, name, response);
    return content_length_of(response) == size;
}

Result<void> S3Remote::put(std::string_view name, std::span<const uint8_t> bytes,
    std::string_view payload_hash, std::string_view content_type)
{
    HttpRequest put = request("PUT", name, payload_hash);
    put.headers.push_back("Content-Type: " + std::string(content_type));
    put.body = bytes;

    HttpResponse response;
    TRY_CONTEXT(m_http->send(put, response), m_description);
    if (!is_success(response.status))
        return failure(put, name, response);
    return {};
}

Result<void> S3Remote::store(const ContentRef& content, std::span<const uint8_t> bytes)
{
    TRY(check_digest(content.digest));
    // The digest is the payload hash S3 checks the body against, so a blob
    // damaged on the way is refused rather than stored.
    std::string_view hex = std::string_view(content.digest).substr(kDigestPrefix.size());
    return put(blob_object_name("", content.digest), bytes, hex, "application/octet-stream");
}

Result<void> S3Remote::publish_index(const ContentRef& index, std::span<const uint8_t> bytes)
{
    (void)index;
    std::span<const uint8_t> layout(
        reinterpret_cast<const uint8_t*>(kLayoutObjectText.data()), kLayoutObjectText.size());
    TRY(put(kLayoutObjectName, layout, hex_digest_of(layout), "application/json"));
    // index.json is written last: until then the prefix does not read as a bundle.
    return put(kIndexObjectName, bytes, hex_digest_of(bytes), kIndexMediaType);
}

} // namespace spore::remote
