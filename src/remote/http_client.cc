#include "remote/http_client.h"

#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <strings.h>

#include <unistd.h>

namespace spore::remote {
namespace {

// Bytes of response headers accepted, far beyond any real server's; a peer
// that keeps sending headers fails the request instead of growing memory.
constexpr size_t kMaxHeaderBytes = 256 << 10;

// What one transfer collects, reached from libcurl's callbacks.
struct Transfer {
    HttpResponse* response = nullptr;
    uint64_t max_size = 0;
    // A HEAD's Content-Length announces a body that never comes.
    bool expects_body = true;
    bool too_long = false;
    size_t header_bytes = 0;
    bool headers_too_long = false;
};

size_t on_body(char* data, size_t size, size_t count, void* context)
{
    auto* transfer = static_cast<Transfer*>(context);
    size_t length = size * count;
    std::vector<uint8_t>& body = transfer->response->body;
    if (body.size() + length > transfer->max_size) {
        transfer->too_long = true;
        return 0; // makes libcurl fail the transfer with CURLE_WRITE_ERROR
    }
    body.insert(body.end(), data, data + length);
    return length;
}

std::string trim(std::string_view text)
{
    while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front())))
        text.remove_prefix(1);
    while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back())))
        text.remove_suffix(1);
    return std::string(text);
}

size_t on_header(char* data, size_t size, size_t count, void* context)
{
    auto* transfer = static_cast<Transfer*>(context);
    size_t length = size * count;
    std::string_view line(data, length);
    HttpResponse& response = *transfer->response;
    transfer->header_bytes += length;
    if (transfer->header_bytes > kMaxHeaderBytes) {
        transfer->headers_too_long = true;
        return 0; // makes libcurl fail the transfer with CURLE_WRITE_ERROR
    }
    // A status line starts a response; an interim one (100 Continue) is
    // followed by the real one, whose headers are the ones that count.
    if (line.starts_with("HTTP/")) {
        response.headers.clear();
        return length;
    }
    size_t colon = line.find(':');
    if (colon == std::string_view::npos)
        return length;
    std::string name(line.substr(0, colon));
    std::transform(
        name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
    std::string value = trim(line.substr(colon + 1));
    if (name == "content-length" && transfer->expects_body) {
        // Sized once up front: a 2 MiB chunk then arrives without regrowth.
        uint64_t announced = std::strtoull(value.c_str(), nullptr, 10);
        if (announced <= transfer->max_size)
            response.body.reserve(announced);
    }
    response.headers.emplace_back(std::move(name), std::move(value));
    return length;
}

void initialize_curl_once()
{
    static const CURLcode status = curl_global_init(CURL_GLOBAL_DEFAULT);
    (void)status;
}

// Frees a header list however the request ends.
struct HeaderList {
    curl_slist* list = nullptr;
    ~HeaderList() { curl_slist_free_all(list); }
    bool add(const std::string& line)
    {
        curl_slist* grown = curl_slist_append(list, line.c_str());
        if (!grown)
            return false;
        list = grown;
        return true;
    }
};

} // namespace

std::optional<std::string> HttpResponse::header(std::string_view name) const
{
    for (const auto& [key, value] : headers) {
        if (key == name)
            return value;
    }
    return std::nullopt;
}

std::string HttpResponse::body_excerpt(size_t limit) const
{
    std::string text;
    for (size_t i = 0; i < body.size() && text.size() < limit; i++) {
        char c = static_cast<char>(body[i]);
        text += (c >= 0x20 && c < 0x7f) ? c : ' ';
    }
    return trim(text);
}

Result<std::unique_ptr<HttpClient>> HttpClient::create(const HttpOptions& options)
{
    initialize_curl_once();
    if (!options.ca_file.empty() && ::access(options.ca_file.c_str(), R_OK) != 0)
        return Error::from_errno("CA bundle " + options.ca_file);
    return std::unique_ptr<HttpClient>(new HttpClient(options));
}

HttpClient::~HttpClient()
{
    for (void* handle : m_idle_handles)
        curl_easy_cleanup(static_cast<CURL*>(handle));
}

void* HttpClient::acquire_handle()
{
    {
        std::lock_guard guard(m_lock);
        if (!m_idle_handles.empty()) {
            void* handle = m_idle_handles.back();
            m_idle_handles.pop_back();
            return handle;
        }
    }
    return curl_easy_init();
}

void HttpClient::release_handle(void* handle)
{
    std::lock_guard guard(m_lock);
    m_idle_handles.push_back(handle);
}

Result<HttpResponse> HttpClient::send(const HttpRequest& request)
{
    HttpResponse response;
    TRY(send(request, response));
    return response;
}

Result<void> HttpClient::send(const HttpRequest& request, HttpResponse& response)
{
    response.status = 0;
    response.headers.clear();
    response.body.clear();
    std::string what = request.method + " " + request.url;

    CURL* curl = static_cast<CURL*>(acquire_handle());
    if (!curl)
        return Error::invalid(what + ": cannot start a transfer");
    // Returned to the pool however the request ends; reset keeps its
    // live connections for the next request.
    struct Release {
        HttpClient* client;
        CURL* curl;
        ~Release()
        {
            curl_easy_reset(curl);
            client->release_handle(curl);
        }
    } release{this, curl};

    bool is_head = request.method == "HEAD";
    bool sends_body = !is_head && (request.method != "GET" || !request.body.empty());
    Transfer transfer{&response, request.max_response_size, !is_head};
    HeaderList headers;
    char error_text[CURL_ERROR_SIZE] = {};
    // No 100-continue round trip before a body. Not for signed requests:
    // libcurl 7.88 signs every listed header, including this removal it
    // never sends, so the server's signature would not match; there the
    // round trip is welcome anyway, as it refuses a bad signature before
    // the body goes out.
    bool ok = request.aws || headers.add("Expect:");
    bool has_content_type = false;
    for (const std::string& line : request.headers) {
        ok = ok && headers.add(line);
        has_content_type = has_content_type || strncasecmp(line.c_str(), "content-type:", 13) == 0;
    }
    // libcurl would call a body a form; it is bytes unless said otherwise.
    if (sends_body && !has_content_type)
        ok = ok && headers.add("Content-Type: application/octet-stream");
    if (!ok)
        return Error::invalid(what + ": out of memory for headers");

    curl_easy_setopt(curl, CURLOPT_URL, request.url.c_str());
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 2L);
    if (!m_options.ca_file.empty())
        curl_easy_setopt(curl, CURLOPT_CAINFO, m_options.ca_file.c_str());
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, m_options.connect_timeout_seconds);
    curl_easy_setopt(curl, CURLOPT_LOW_SPEED_LIMIT, 1024L);
    curl_easy_setopt(curl, CURLOPT_LOW_SPEED_TIME, m_options.stall_seconds);
    curl_easy_setopt(curl, CURLOPT_USERAGENT, "sporevm");
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, error_text);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &transfer);
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, &transfer);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers.list);
    // An announced length over the limit fails before any of the body
    // arrives. Not for HEAD, where libcurl would apply it to the length of
    // a body that is not sent.
    if (!is_head) {
        curl_easy_setopt(curl, CURLOPT_MAXFILESIZE_LARGE,
            static_cast<curl_off_t>(std::min<uint64_t>(request.max_response_size, INT64_MAX)));
    }

    if (is_head) {
        curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
    } else if (sends_body) {
        curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, request.method.c_str());
        // An empty string, not null: null would mean "read the body from a callback".
        const void* body
            = request.body.empty() ? static_cast<const void*>("") : request.body.data();
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(
            curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(request.body.size()));
    }
    if (request.aws) {
        std::string provider = "aws:amz:" + request.aws->region + ":" + request.aws->service;
        curl_easy_setopt(curl, CURLOPT_AWS_SIGV4, provider.c_str());
        curl_easy_setopt(curl, CURLOPT_USERNAME, request.aws->access_key_id.c_str());
        curl_easy_setopt(curl, CURLOPT_PASSWORD, request.aws->secret_access_key.c_str());
    } else if (request.basic_auth) {
        curl_easy_setopt(curl, CURLOPT_HTTPAUTH, static_cast<long>(CURLAUTH_BASIC));
        curl_easy_setopt(curl, CURLOPT_USERPWD, request.basic_auth->c_str());
    }

    CURLcode code = curl_easy_perform(curl);
    if (transfer.headers_too_long)
        return Error::invalid(what + ": response headers are longer than "
            + std::to_string(kMaxHeaderBytes) + " bytes");
    if (transfer.too_long || code == CURLE_FILESIZE_EXCEEDED) {
        return Error::invalid(what + ": response is longer than "
            + std::to_string(request.max_response_size) + " bytes");
    }
    if (code != CURLE_OK) {
        std::string cause = error_text[0] ? error_text : curl_easy_strerror(code);
        ErrorCode kind
            = code == CURLE_OPERATION_TIMEDOUT ? ErrorCode::Timeout : ErrorCode::InvalidInput;
        return Error(kind, what + ": " + cause);
    }
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &response.status);
    return {};
}

std::string_view status_text(long status)
{
    static constexpr std::pair<long, std::string_view> kTexts[] = {
        {301, "moved permanently"},
        {302, "found"},
        {303, "see other"},
        {307, "temporary redirect"},
        {308, "permanent redirect"},
        {400, "bad request"},
        {401, "unauthorized"},
        {403, "forbidden"},
        {404, "not found"},
        {405, "method not allowed"},
        {409, "conflict"},
        {411, "length required"},
        {413, "content too large"},
        {429, "too many requests"},
        {500, "internal server error"},
        {501, "not implemented"},
        {502, "bad gateway"},
        {503, "service unavailable"},
        {504, "gateway timeout"},
    };
    for (const auto& [known, text] : kTexts) {
        if (known == status)
            return text;
    }
    return {};
}

std::optional<uint64_t> content_length_of(const HttpResponse& response)
{
    std::optional<std::string> value = response.header("content-length");
    // 20 digits hold any 64-bit length; more, or anything but digits, is malformed.
    if (!value || value->empty() || value->size() > 20)
        return std::nullopt;
    uint64_t length = 0;
    auto [end, error] = std::from_chars(value->data(), value->data() + value->size(), length);
    if (error != std::errc() || end != value->data() + value->size())
        return std::nullopt;
    return length;
}

std::string printable_text(std::string_view text, size_t limit)
{
    std::string result;
    for (size_t i = 0; i < text.size(); i++) {
        if (result.size() >= limit)
            return result + "...";
        char c = text[i];
        result += (c >= 0x20 && c < 0x7f) ? c : ' ';
    }
    return result;
}

// Whether reference starts with a URL scheme, "letter *( letter / digit /
// + / - / . ) :" (RFC 3986 section 3.1), and so is absolute.
static bool has_scheme(const std::string& reference)
{
    size_t colon = reference.find(':');
    if (colon == std::string::npos || colon == 0
        || !std::isalpha(static_cast<unsigned char>(reference[0])))
        return false;
    return std::all_of(
        reference.begin(), reference.begin() + static_cast<std::ptrdiff_t>(colon), [](char c) {
            return std::isalnum(static_cast<unsigned char>(c)) || c == '+' || c == '-' || c == '.';
        });
}

std::string resolve_reference(const std::string& base_url, const std::string& reference)
{
    if (has_scheme(reference))
        return reference;
    size_t scheme_end = base_url.find("://");
    size_t authority_end = base_url.find('/', scheme_end == std::string::npos ? 0 : scheme_end + 3);
    std::string origin = base_url.substr(0, authority_end);
    if (reference.starts_with("//"))
        return base_url.substr(0, scheme_end + 1) + reference;
    if (reference.starts_with('/'))
        return origin + reference;
    size_t last_slash = base_url.rfind('/');
    if (authority_end == std::string::npos || last_slash < authority_end)
        return origin + "/" + reference;
    return base_url.substr(0, last_slash + 1) + reference;
}

std::string ca_file_from_environment()
{
    const char* file = std::getenv("SSL_CERT_FILE");
    return file && *file ? file : "";
}

} // namespace spore::remote
