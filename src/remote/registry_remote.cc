#include "remote/registry_remote.h"

#include <algorithm>

#include "remote/registry_auth.h"
#include "spore/digest.h"

namespace spore::remote {
namespace {

using Clock = std::chrono::steady_clock;

constexpr std::string_view kIndexMediaType = "application/vnd.oci.image.index.v1+json";
constexpr std::string_view kManifestMediaType = "application/vnd.oci.image.manifest.v1+json";
// Registries send blob reads on to storage; a longer chain is a loop.
constexpr int kMaxRedirects = 5;
// The Docker token protocol's lifetime for a token that states none; a
// token is replaced a little before it runs out.
constexpr std::chrono::seconds kDefaultTokenLifetime{60};
constexpr std::chrono::seconds kMaxTokenLifetime{24 * 60 * 60};
constexpr std::chrono::seconds kMaxRefreshMargin{30};
// Longest media type and Location header accepted.
constexpr size_t kMaxMediaTypeLength = 255;
constexpr size_t kMaxLocationLength = 8192;
// Longest piece of untrusted text quoted back in an error message.
constexpr size_t kMaxQuoted = 64;

const char* const kCredentialsHint
    = "set SPOREVM_REGISTRY_USERNAME and SPOREVM_REGISTRY_PASSWORD, or log in with docker login";

std::string lower_case(std::string_view text)
{
    std::string result(text);
    for (char& c : result)
        c = (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
    return result;
}

bool is_visible_ascii(char c)
{
    return c > 0x20 && c < 0x7f;
}

// RFC 6838 section 4.2 restricted-name characters, and the '/' between
// type and subtype; nothing that could end a header line.
bool is_media_type_character(char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
        return true;
    return std::string_view("!#$&-^_.+/").find(c) != std::string_view::npos;
}

// A Location header fit to resolve and request.
bool is_usable_location(const std::optional<std::string>& location)
{
    return location && !location->empty() && location->size() <= kMaxLocationLength
        && std::all_of(location->begin(), location->end(), is_visible_ascii);
}

bool is_redirect(long status)
{
    return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

// "scheme://authority" in lower case: what decides whether a request is
// the registry's and may carry its credentials.
std::string origin_of(std::string_view url)
{
    size_t scheme_end = url.find("://");
    if (scheme_end == std::string_view::npos)
        return "";
    return lower_case(url.substr(0, url.find_first_of("/?#", scheme_end + 3)));
}

// A digest as messages show it: whole when well formed, cut short when not.
std::string quoted_digest(const std::string& digest)
{
    return is_valid_digest(digest) ? digest : "\"" + printable_text(digest, kMaxQuoted) + "\"";
}

std::string describe_content(const ContentRef& content)
{
    const char* kind = content.kind == ContentKind::Manifest ? "manifest " : "blob ";
    return kind + quoted_digest(content.digest);
}

// The status and the registry's own account of the failure.
std::string status_and_error(const HttpResponse& response)
{
    std::string text = std::to_string(response.status);
    if (std::optional<RegistryError> error = parse_registry_error(response.body)) {
        text += " " + error->code;
        return error->message.empty() ? text : text + ": " + error->message;
    }
    std::string excerpt = response.body_excerpt();
    return excerpt.empty() ? text : text + ": " + excerpt;
}

// HttpClient puts the method and URL in front of a transport failure;
// callers name the operation instead.
Error without_request(const Error& error, const HttpRequest& request, const std::string& context)
{
    std::string prefix = request.method + " " + request.url + ": ";
    std::string_view cause = error.message();
    if (cause.starts_with(prefix))
        cause.remove_prefix(prefix.size());
    return Error(error.code(), context + ": " + std::string(cause), error.errno_value());
}

std::string accept_header(const std::string& media_type)
{
    std::string header = "Accept: " + media_type;
    for (std::string_view type : {kIndexMediaType, kManifestMediaType}) {
        if (type == media_type)
            continue;
        header += header.ends_with(": ") ? "" : ", ";
        header += type;
    }
    return header;
}

// The upload URL with the digest that completes the upload added to its query.
std::string with_digest(std::string url, const std::string& digest)
{
    if (url.find('?') == std::string::npos)
        url += '?';
    else if (!url.ends_with('?') && !url.ends_with('&'))
        url += '&';
    // Digests are checked, so ':' is the only character to escape.
    return url + "digest=sha256%3A" + digest.substr(kDigestPrefix.size());
}

// The first Basic or Bearer challenge among a 401's WWW-Authenticate headers.
Result<AuthChallenge> challenge_of(const HttpResponse& response)
{
    std::optional<Error> problem;
    for (const auto& [name, value] : response.headers) {
        if (name != "www-authenticate")
            continue;
        Result<AuthChallenge> challenge = parse_challenge(value);
        if (challenge)
            return challenge;
        if (!problem)
            problem = challenge.error();
    }
    if (problem)
        return *problem;
    return Error::invalid("no www-authenticate challenge");
}

} // namespace

void RegistryRemote::Authorization::apply(HttpRequest& request) const
{
    if (header)
        request.headers.push_back(*header);
    request.basic_auth = basic;
}

Result<std::unique_ptr<RegistryRemote>> RegistryRemote::create(
    const Location& location, RegistrySettings settings, std::shared_ptr<HttpClient> http)
{
    if (location.kind != LocationKind::Registry || location.host.empty()
        || location.repository.empty())
        return Error::invalid("not a registry location: " + location.text);
    if (!http)
        return Error::invalid(location.text + ": no http client");
    Scheme scheme = Scheme::Https;
    if (settings.plain_http)
        scheme = Scheme::Http;
    else if (is_loopback_host(location.host))
        scheme = Scheme::Undecided;
    auto remote = std::unique_ptr<RegistryRemote>(
        new RegistryRemote(location.text, location, std::move(settings), std::move(http)));
    remote->m_scheme = scheme;
    return remote;
}

Result<void> RegistryRemote::fetch(
    const ContentRef& content, uint64_t max_size, std::vector<uint8_t>& out)
{
    std::string operation = "GET " + describe_content(content);
    TRY(check_content(content, operation));
    TRY(decide_scheme(operation));

    HttpRequest request;
    request.url = content_url(content);
    // Room for an error page even when the content is tiny; what arrives
    // with success is held to max_size below.
    request.max_response_size = std::max(max_size, kMaxErrorBodySize);
    if (content.kind == ContentKind::Manifest)
        request.headers.push_back(accept_header(content.media_type));

    HttpResponse response;
    response.body = std::move(out); // keeps the caller's buffer
    TRY(send(request, Access::Pull, operation, response));
    if (content.kind == ContentKind::Blob)
        TRY(follow_redirects(request, operation, response));
    if (response.status != 200)
        return failure(operation, response);
    if (response.body.size() > max_size)
        return refuse(operation, "longer than the limit of " + std::to_string(max_size) + " bytes");
    out = std::move(response.body);
    return {};
}

Result<bool> RegistryRemote::contains(const ContentRef& content, uint64_t size)
{
    std::string operation = "HEAD " + describe_content(content);
    TRY(check_content(content, operation));
    TRY(decide_scheme(operation));

    HttpRequest request;
    request.method = "HEAD";
    request.url = content_url(content);
    request.max_response_size = kMaxErrorBodySize;
    if (content.kind == ContentKind::Manifest)
        request.headers.push_back(accept_header(content.media_type));
    HttpResponse response;
    TRY(send(request, Access::Pull, operation, response));
    if (content.kind == ContentKind::Blob)
        TRY(follow_redirects(request, operation, response));

    if (response.status == 404)
        return false;
    if (!is_success(response.status))
        return failure(operation, response);
    std::optional<std::string> length = response.header("content-length");
    return response.status == 200 && (!length || *length == std::to_string(size));
}

Result<void> RegistryRemote::store(const ContentRef& content, std::span<const uint8_t> bytes)
{
    if (content.kind == ContentKind::Blob)
        return store_blob(content, bytes);

    std::string operation = "PUT " + describe_content(content);
    TRY(check_content(content, operation));
    if (content.media_type.empty())
        return refuse(operation, "no media type");
    TRY(decide_scheme(operation));
    std::optional<std::string> stored
        = TRY(put_manifest(content.digest, content, bytes, operation));
    if (stored && *stored != content.digest)
        return refuse(operation, "the registry stored it as " + quoted_digest(*stored));
    return {};
}

Result<void> RegistryRemote::publish_index(const ContentRef& index, std::span<const uint8_t> bytes)
{
    if (!m_location.tag)
        return {};
    std::string operation = "PUT tag " + *m_location.tag;
    TRY(check_content(index, operation));
    TRY(decide_scheme(operation));

    ContentRef tagged = index;
    if (tagged.media_type.empty())
        tagged.media_type = kIndexMediaType;
    std::optional<std::string> digest
        = TRY(put_manifest(*m_location.tag, tagged, bytes, operation));
    if (!digest)
        digest = TRY(tagged_digest(tagged, operation));
    if (*digest != index.digest)
        return refuse(
            operation, "the registry tagged " + quoted_digest(*digest) + ", not " + index.digest);
    return {};
}

// Registry 2.8.2 does not complete an upload from a POST with ?digest=,
// so every blob takes the two steps of the OCI distribution spec's
// "POST then PUT": open an upload session, then PUT the bytes to it.
Result<void> RegistryRemote::store_blob(const ContentRef& content, std::span<const uint8_t> bytes)
{
    std::string operation = "POST blob upload " + quoted_digest(content.digest);
    TRY(check_content(content, operation));
    TRY(decide_scheme(operation));

    HttpRequest start;
    start.method = "POST";
    start.url = api_url("blobs/uploads/");
    start.max_response_size = kMaxErrorBodySize;
    HttpResponse response;
    TRY(send(start, Access::Push, operation, response));
    if (response.status != 202)
        return failure(operation, response);
    std::optional<std::string> location = response.header("location");
    if (!is_usable_location(location))
        return refuse(operation, "202 without a usable location");

    operation = "PUT " + describe_content(content);
    HttpRequest upload;
    upload.method = "PUT";
    upload.url = with_digest(resolve_reference(start.url, *location), content.digest);
    upload.headers.push_back("Content-Type: application/octet-stream");
    upload.body = bytes;
    upload.max_response_size = kMaxErrorBodySize;
    TRY(send(upload, Access::Push, operation, response));
    if (response.status != 201)
        return failure(operation, response);
    std::optional<std::string> stored = response.header("docker-content-digest");
    if (stored && *stored != content.digest)
        return refuse(operation, "the registry stored it as " + quoted_digest(*stored));
    return {};
}

// The registry's Docker-Content-Digest for the bytes stored, if it sends one.
Result<std::optional<std::string>> RegistryRemote::put_manifest(const std::string& reference,
    const ContentRef& content, std::span<const uint8_t> bytes, const std::string& operation)
{
    HttpRequest request;
    request.method = "PUT";
    request.url = api_url("manifests/" + reference);
    request.headers.push_back("Content-Type: " + content.media_type);
    request.body = bytes;
    request.max_response_size = kMaxErrorBodySize;
    HttpResponse response;
    TRY(send(request, Access::Push, operation, response));
    if (response.status != 201)
        return failure(operation, response);
    return response.header("docker-content-digest");
}

// What the tag names now, for a registry that did not say when tagging.
Result<std::string> RegistryRemote::tagged_digest(
    const ContentRef& index, const std::string& operation)
{
    HttpRequest request;
    request.method = "HEAD";
    request.url = api_url("manifests/" + *m_location.tag);
    request.headers.push_back(accept_header(index.media_type));
    request.max_response_size = kMaxErrorBodySize;
    HttpResponse response;
    TRY(send(request, Access::Push, operation, response));
    if (response.status != 200)
        return failure(operation + ": HEAD", response);
    std::optional<std::string> digest = response.header("docker-content-digest");
    if (!digest)
        return refuse(operation, "the registry does not report which digest the tag names");
    return *digest;
}

Result<void> RegistryRemote::check_content(
    const ContentRef& content, const std::string& operation) const
{
    if (!is_valid_digest(content.digest))
        return refuse(operation, "not a sha256 digest");
    const std::string& type = content.media_type;
    if (type.size() > kMaxMediaTypeLength
        || !std::all_of(type.begin(), type.end(), is_media_type_character))
        return refuse(
            operation, "media type \"" + printable_text(type, kMaxQuoted) + "\" is malformed");
    return {};
}

std::string RegistryRemote::content_url(const ContentRef& content)
{
    const char* collection = content.kind == ContentKind::Manifest ? "manifests/" : "blobs/";
    return api_url(collection + content.digest);
}

// A loopback registry is often a development one on plain HTTP. HTTPS is
// tried first; only a port that answers plain HTTP where TLS was expected
// turns it into HTTP, so a certificate problem is never talked around.
Result<void> RegistryRemote::decide_scheme(const std::string& operation)
{
    {
        std::lock_guard guard(m_lock);
        if (m_scheme != Scheme::Undecided)
            return {};
    }
    HttpRequest probe;
    probe.url = "https://" + m_location.host + "/v2/";
    probe.max_response_size = kMaxErrorBodySize;
    HttpResponse response;
    Result<void> secure = m_http->send(probe, response);
    if (!secure && !answers_plain_http(secure.error()))
        return without_request(secure.error(), probe, m_description + ": " + operation);

    std::lock_guard guard(m_lock);
    m_scheme = secure ? Scheme::Https : Scheme::Http;
    return {};
}

// Whether the TLS failure came from a port speaking plain HTTP: not a
// certificate failure, and /v2/ answers as a registry does. A TLS port
// answers plain HTTP with 400, which does not count.
bool RegistryRemote::answers_plain_http(const Error& tls_failure)
{
    if (lower_case(tls_failure.message()).find("certificate") != std::string::npos)
        return false;
    HttpRequest probe;
    probe.url = "http://" + m_location.host + "/v2/";
    probe.max_response_size = kMaxErrorBodySize;
    Result<HttpResponse> response = m_http->send(probe);
    if (!response)
        return false;
    long status = response->status;
    return is_success(status) || status == 401 || status == 403 || status == 404;
}

std::string RegistryRemote::origin()
{
    std::lock_guard guard(m_lock);
    return (m_scheme == Scheme::Http ? "http://" : "https://") + lower_case(m_location.host);
}

std::string RegistryRemote::api_url(const std::string& path)
{
    return origin() + "/v2/" + m_location.repository + "/" + path;
}

Result<void> RegistryRemote::send(
    const HttpRequest& request, Access access, const std::string& operation, HttpResponse& response)
{
    // Credentials and tokens are for the registry alone, never for the
    // storage a blob read is redirected to.
    if (origin_of(request.url) != origin())
        return transmit(request, operation, response);

    HttpRequest authorized = request;
    TRY(authorization_for(access, operation)).apply(authorized);
    TRY(transmit(authorized, operation, response));
    if (response.status != 401)
        return {};

    // Anonymous, or the token ran out: answer the challenge and try once more.
    AuthChallenge challenge = TRY_CONTEXT(challenge_of(response),
        m_description + ": " + operation + ": " + status_and_error(response));
    authorized = request;
    TRY(answer_challenge(challenge, access, operation, response)).apply(authorized);
    TRY(transmit(authorized, operation, response));
    if (response.status == 401)
        return unauthorized(operation, response);
    remember(challenge);
    return {};
}

Result<void> RegistryRemote::transmit(
    const HttpRequest& request, const std::string& operation, HttpResponse& response)
{
    Result<void> sent = m_http->send(request, response);
    if (!sent)
        return without_request(sent.error(), request, m_description + ": " + operation);
    return {};
}

Result<void> RegistryRemote::follow_redirects(
    HttpRequest request, const std::string& operation, HttpResponse& response)
{
    for (int hop = 0; is_redirect(response.status); hop++) {
        if (hop == kMaxRedirects)
            return refuse(operation, "more than " + std::to_string(kMaxRedirects) + " redirects");
        std::optional<std::string> location = response.header("location");
        if (!is_usable_location(location))
            return refuse(
                operation, std::to_string(response.status) + " without a usable location");
        request.url = resolve_reference(request.url, *location);
        TRY(send(request, Access::Pull, operation, response));
    }
    return {};
}

std::string RegistryRemote::scope(Access access) const
{
    const char* actions = access == Access::Push ? ":pull,push" : ":pull";
    return "repository:" + m_location.repository + actions;
}

// What worked before: Basic credentials, a live token for this scope, or
// a fresh one from the realm that issued tokens before. Anonymous first.
Result<RegistryRemote::Authorization> RegistryRemote::authorization_for(
    Access access, const std::string& operation)
{
    std::shared_ptr<const AuthChallenge> challenge;
    {
        std::lock_guard guard(m_lock);
        if (m_basic_accepted)
            return basic_authorization();
        auto token = m_tokens.find(scope(access));
        if (token != m_tokens.end() && Clock::now() < token->second.refresh_after)
            return Authorization{token->second.header, std::nullopt};
        challenge = m_bearer_challenge;
    }
    if (!challenge)
        return Authorization{};
    return fetch_token(*challenge, access, operation);
}

RegistryRemote::Authorization RegistryRemote::basic_authorization() const
{
    const RegistryCredentials& credentials = *m_settings.credentials;
    return Authorization{std::nullopt, credentials.username + ":" + credentials.password};
}

Result<RegistryRemote::Authorization> RegistryRemote::answer_challenge(
    const AuthChallenge& challenge, Access access, const std::string& operation,
    const HttpResponse& response)
{
    if (challenge.scheme == AuthScheme::Bearer)
        return fetch_token(challenge, access, operation);
    if (!m_settings.credentials) {
        return Error::invalid(m_description + ": " + operation + ": " + status_and_error(response)
            + ": the registry wants credentials: " + kCredentialsHint);
    }
    return basic_authorization();
}

// Asks the challenge's realm for a token for access (Docker registry
// token protocol), with the Basic credentials when there are any, and
// keeps it for later requests of the same scope.
Result<RegistryRemote::Authorization> RegistryRemote::fetch_token(
    const AuthChallenge& challenge, Access access, const std::string& operation)
{
    std::string wanted = scope(access);
    std::string context = m_description + ": " + operation;
    HttpRequest request;
    request.url = TRY_CONTEXT(token_request_url(challenge, wanted), context);
    request.max_response_size = kMaxTokenResponseSize;
    context += ": token from " + challenge.parameter("realm").value_or("");
    if (m_settings.credentials) {
        if (lower_case(request.url).starts_with("http://") && origin().starts_with("https://"))
            return Error::invalid(context + ": refusing to send credentials over plain http");
        request.basic_auth = basic_authorization().basic;
    }

    HttpResponse response;
    Result<void> sent = m_http->send(request, response);
    if (!sent)
        return without_request(sent.error(), request, context);
    if (response.status == 401 || response.status == 403) {
        const char* problem
            = m_settings.credentials ? "credentials refused" : "anonymous access refused";
        return Error::invalid(context + ": " + status_and_error(response) + ": " + problem);
    }
    if (!is_success(response.status))
        return Error::invalid(context + ": " + status_and_error(response));
    BearerToken token = TRY_CONTEXT(parse_token_response(response.body), context);

    uint64_t seconds = token.expires_in.value_or(kDefaultTokenLifetime.count());
    auto lifetime = std::chrono::seconds(std::min<uint64_t>(seconds, kMaxTokenLifetime.count()));
    Token cached{"Authorization: Bearer " + token.token,
        Clock::now() + lifetime - std::min(lifetime / 4, kMaxRefreshMargin)};
    Authorization result{cached.header, std::nullopt};
    std::lock_guard guard(m_lock);
    m_tokens[wanted] = std::move(cached);
    return result;
}

// Once an answer worked, later requests give it up front instead of
// waiting for a 401 each.
void RegistryRemote::remember(const AuthChallenge& challenge)
{
    std::lock_guard guard(m_lock);
    if (challenge.scheme == AuthScheme::Bearer)
        m_bearer_challenge = std::make_shared<const AuthChallenge>(challenge);
    else
        m_basic_accepted = true;
}

Error RegistryRemote::failure(const std::string& operation, const HttpResponse& response) const
{
    ErrorCode code = response.status == 404 ? ErrorCode::NotFound : ErrorCode::InvalidInput;
    return Error(code, m_description + ": " + operation + ": " + status_and_error(response));
}

Error RegistryRemote::unauthorized(const std::string& operation, const HttpResponse& response) const
{
    std::string text
        = m_description + ": " + operation + ": unauthorized: " + status_and_error(response);
    Result<AuthChallenge> challenge = challenge_of(response);
    if (challenge && challenge->parameter("error"))
        text += " (" + printable_text(*challenge->parameter("error"), kMaxQuoted) + ")";
    if (m_settings.credentials)
        return Error::invalid(text + ": the credentials were refused or do not allow this");
    return Error::invalid(text + ": " + kCredentialsHint);
}

Error RegistryRemote::refuse(const std::string& operation, const std::string& problem) const
{
    return Error::invalid(m_description + ": " + operation + ": " + problem);
}

} // namespace spore::remote
