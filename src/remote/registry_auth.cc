#include "remote/registry_auth.h"

#include <nlohmann/json.hpp>
#include <openssl/evp.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>

#include "common/file.h"

namespace spore::remote {
namespace {

using Json = nlohmann::json;

// Deepest JSON nesting accepted; token answers and docker configs are flat.
constexpr int kMaxJsonDepth = 16;
// Longest base64 "auth" value and realm URL accepted.
constexpr size_t kMaxAuthLength = 4096;
constexpr size_t kMaxRealmLength = 2048;
// Longest piece of untrusted text quoted back in an error message.
constexpr size_t kMaxQuoted = 64;
// Longest registry error message kept.
constexpr size_t kMaxErrorMessage = 200;

char lower(char c)
{
    return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

std::string lower_case(std::string_view text)
{
    std::string result(text);
    std::transform(result.begin(), result.end(), result.begin(), lower);
    return result;
}

bool starts_with_ignoring_case(std::string_view text, std::string_view prefix)
{
    return text.size() >= prefix.size() && lower_case(text.substr(0, prefix.size())) == prefix;
}

bool is_visible_ascii(char c)
{
    return c > 0x20 && c < 0x7f;
}

// Only printable ASCII survives, so hostile text stays inert on a terminal.
std::string printable(std::string_view text, size_t limit = kMaxQuoted)
{
    std::string result;
    for (char c : text.substr(0, limit))
        result += (c >= 0x20 && c < 0x7f) ? c : '?';
    if (text.size() > limit)
        result += "...";
    return result;
}

// RFC 9110 section 5.6.2: the characters of a token.
bool is_token_character(char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
        return true;
    return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

// Reads one WWW-Authenticate value: a comma-separated list of challenges,
// each a scheme and then auth-params "name=token" or name="quoted".
// token68 forms are refused; neither Basic nor Bearer uses them.
class ChallengeParser {
public:
    explicit ChallengeParser(std::string_view text)
        : m_text(text)
    {
    }

    Result<std::vector<std::pair<std::string, AuthChallenge>>> parse();

private:
    Error refuse(const std::string& problem) const
    {
        return Error::invalid(
            "www-authenticate: " + problem + " at offset " + std::to_string(m_position));
    }

    bool at_end() const { return m_position >= m_text.size(); }
    char peek() const { return at_end() ? '\0' : m_text[m_position]; }
    void skip_spaces();
    void skip_separators();
    std::string_view token();
    Result<std::string> quoted_string();
    Result<std::string> parameter_value();
    Result<void> parse_parameters(AuthChallenge& challenge);

    std::string_view m_text;
    size_t m_position = 0;
    size_t m_parameter_count = 0;
};

void ChallengeParser::skip_spaces()
{
    while (peek() == ' ' || peek() == '\t')
        m_position++;
}

// Empty list elements are allowed (RFC 9110 section 5.6.1).
void ChallengeParser::skip_separators()
{
    while (peek() == ' ' || peek() == '\t' || peek() == ',')
        m_position++;
}

std::string_view ChallengeParser::token()
{
    size_t start = m_position;
    while (!at_end() && is_token_character(m_text[m_position]))
        m_position++;
    return m_text.substr(start, m_position - start);
}

Result<std::string> ChallengeParser::quoted_string()
{
    m_position++; // the opening quote
    std::string value;
    while (!at_end()) {
        char c = m_text[m_position++];
        if (c == '"')
            return value;
        if (c == '\\') {
            if (at_end())
                break;
            c = m_text[m_position++];
        }
        // qdtext and quoted-pair both allow tab, space, VCHAR and obs-text.
        bool allowed = c == '\t' || c == ' ' || is_visible_ascii(c) || (c & 0x80) != 0;
        if (!allowed)
            return refuse("control character in a quoted string");
        value += c;
    }
    return refuse("unterminated quoted string");
}

Result<std::string> ChallengeParser::parameter_value()
{
    if (peek() == '"')
        return quoted_string();
    std::string_view value = token();
    if (value.empty())
        return refuse("expected a token or a quoted string");
    return std::string(value);
}

// Reads auth-params up to the end or the start of the next challenge,
// which is a token after a comma that no '=' follows.
Result<void> ChallengeParser::parse_parameters(AuthChallenge& challenge)
{
    bool after_comma = false;
    while (true) {
        skip_separators();
        if (at_end())
            return {};
        size_t start = m_position;
        std::string name = lower_case(token());
        if (name.empty())
            return refuse("expected a parameter name");
        skip_spaces();
        if (peek() != '=') {
            if (!after_comma)
                return refuse("expected '=' after \"" + printable(name) + "\"");
            m_position = start;
            return {};
        }
        m_position++;
        skip_spaces();
        std::string value = TRY(parameter_value());

        if (challenge.parameter(name))
            return refuse("parameter \"" + printable(name) + "\" given twice");
        if (++m_parameter_count > kMaxChallengeParameters)
            return refuse("more than " + std::to_string(kMaxChallengeParameters) + " parameters");
        challenge.parameters.emplace_back(std::move(name), std::move(value));

        skip_spaces();
        if (at_end())
            return {};
        if (peek() != ',')
            return refuse("expected ',' between parameters");
        after_comma = true;
    }
}

// Each challenge with its scheme name in lower case; AuthChallenge::scheme
// is meaningful only for "basic" and "bearer".
Result<std::vector<std::pair<std::string, AuthChallenge>>> ChallengeParser::parse()
{
    if (m_text.size() > kMaxChallengeLength)
        return refuse("longer than " + std::to_string(kMaxChallengeLength) + " bytes");
    std::vector<std::pair<std::string, AuthChallenge>> challenges;
    skip_separators();
    while (!at_end()) {
        std::string scheme = lower_case(token());
        if (scheme.empty())
            return refuse("expected an authentication scheme");
        AuthChallenge challenge;
        challenge.scheme = scheme == "bearer" ? AuthScheme::Bearer : AuthScheme::Basic;
        if (!at_end() && peek() != ',') {
            if (peek() != ' ' && peek() != '\t')
                return refuse("expected a space after the scheme");
            TRY(parse_parameters(challenge));
        }
        challenges.emplace_back(std::move(scheme), std::move(challenge));
        skip_separators();
    }
    if (challenges.empty())
        return refuse("no challenge");
    return challenges;
}

// RFC 3986 section 2.3: everything but unreserved characters is escaped.
std::string url_encode(std::string_view text)
{
    static constexpr char kHex[] = "0123456789ABCDEF";
    std::string result;
    for (char c : text) {
        bool unreserved = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
            || c == '-' || c == '.' || c == '_' || c == '~';
        if (unreserved) {
            result += c;
            continue;
        }
        auto byte = static_cast<unsigned char>(c);
        result += '%';
        result += kHex[byte >> 4];
        result += kHex[byte & 0xf];
    }
    return result;
}

Result<void> check_realm(std::string_view realm)
{
    if (realm.size() > kMaxRealmLength)
        return Error::invalid("bearer challenge: realm is longer than "
            + std::to_string(kMaxRealmLength) + " characters");
    std::string quoted = "bearer challenge: realm \"" + printable(realm) + "\"";
    if (!std::all_of(realm.begin(), realm.end(), is_visible_ascii))
        return Error::invalid(quoted + ": contains a space or a control or non-ASCII character");
    if (realm.find('#') != std::string_view::npos)
        return Error::invalid(quoted + ": has a fragment");
    size_t host_start = 0;
    if (starts_with_ignoring_case(realm, "https://"))
        host_start = 8;
    else if (starts_with_ignoring_case(realm, "http://"))
        host_start = 7;
    else
        return Error::invalid(quoted + ": not an http or https url");
    if (host_start == realm.size()
        || std::string_view("/?").find(realm[host_start]) != std::string_view::npos)
        return Error::invalid(quoted + ": has no host");
    return {};
}

// Parses JSON without exceptions, refusing documents nested deeper than
// kMaxJsonDepth so the tree built stays shallow.
std::optional<Json> parse_shallow_json(std::span<const uint8_t> bytes)
{
    bool too_deep = false;
    Json::parser_callback_t limit_depth = [&too_deep](int depth, Json::parse_event_t, Json&) {
        if (depth > kMaxJsonDepth)
            too_deep = true;
        return !too_deep;
    };
    Json document = Json::parse(bytes.begin(), bytes.end(), limit_depth, false);
    if (too_deep || document.is_discarded())
        return std::nullopt;
    return document;
}

// The string member name of object, if it is one.
std::optional<std::string> string_member(const Json& object, const char* name)
{
    auto found = object.find(name);
    if (found == object.end() || !found->is_string())
        return std::nullopt;
    return found->get<std::string>();
}

// Decodes standard, padded base64.
std::optional<std::string> decode_base64(std::string_view text)
{
    while (!text.empty() && (text.back() == '\n' || text.back() == ' '))
        text.remove_suffix(1);
    if (text.empty() || text.size() > kMaxAuthLength || text.size() % 4 != 0)
        return std::nullopt;
    std::string decoded(text.size() / 4 * 3, '\0');
    int length = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(decoded.data()),
        reinterpret_cast<const unsigned char*>(text.data()), static_cast<int>(text.size()));
    if (length < 0)
        return std::nullopt;
    // EVP_DecodeBlock counts the bytes padding stands for; drop them.
    size_t padding = text.ends_with("==") ? 2 : text.ends_with('=') ? 1 : 0;
    decoded.resize(static_cast<size_t>(length) - padding);
    return decoded;
}

// "https://host/v2/" and the like name the same registry as "host".
std::string host_of_config_key(std::string_view key)
{
    if (starts_with_ignoring_case(key, "https://"))
        key.remove_prefix(8);
    else if (starts_with_ignoring_case(key, "http://"))
        key.remove_prefix(7);
    return lower_case(key.substr(0, key.find('/')));
}

const Json* config_entry_for(const Json& auths, const std::string& host)
{
    auto exact = auths.find(host);
    if (exact != auths.end())
        return &*exact;
    std::string wanted = lower_case(host);
    for (auto entry = auths.begin(); entry != auths.end(); ++entry) {
        if (host_of_config_key(entry.key()) == wanted)
            return &*entry;
    }
    return nullptr;
}

Result<std::optional<RegistryCredentials>> credentials_from_entry(
    const Json& entry, const std::string& context)
{
    if (!entry.is_object())
        return Error::invalid(context + ": not a JSON object");
    std::optional<std::string> auth = string_member(entry, "auth");
    if (auth && !auth->empty()) {
        std::optional<std::string> pair = decode_base64(*auth);
        if (!pair)
            return Error::invalid(context + ": \"auth\" is not base64");
        size_t colon = pair->find(':');
        if (colon == std::string::npos || colon == 0 || pair->find('\0') != std::string::npos)
            return Error::invalid(context + ": \"auth\" does not decode to user:password");
        return std::optional(RegistryCredentials{pair->substr(0, colon), pair->substr(colon + 1)});
    }
    std::optional<std::string> username = string_member(entry, "username");
    std::optional<std::string> password = string_member(entry, "password");
    if (!username || username->empty() || !password)
        return std::optional<RegistryCredentials>();
    if (username->find(':') != std::string::npos)
        return Error::invalid(context + ": \"username\" contains ':'");
    return std::optional(RegistryCredentials{*username, *password});
}

std::optional<std::string> environment(const char* name)
{
    const char* value = std::getenv(name);
    if (!value || !*value)
        return std::nullopt;
    return std::string(value);
}

// $DOCKER_CONFIG/config.json, else ~/.docker/config.json; none without HOME.
std::optional<std::string> docker_config_path()
{
    if (std::optional<std::string> directory = environment("DOCKER_CONFIG"))
        return *directory + "/config.json";
    if (std::optional<std::string> home = environment("HOME"))
        return *home + "/.docker/config.json";
    return std::nullopt;
}

Result<std::optional<RegistryCredentials>> credentials_from_docker(const std::string& host)
{
    std::optional<std::string> path = docker_config_path();
    if (!path)
        return std::optional<RegistryCredentials>();
    Result<std::vector<uint8_t>> bytes = read_file(*path, kMaxDockerConfigSize);
    if (!bytes && bytes.error().code() == ErrorCode::System
        && bytes.error().errno_value() == ENOENT)
        return std::optional<RegistryCredentials>();
    if (!bytes)
        return bytes.error().with_context("docker config");
    std::string_view document(reinterpret_cast<const char*>(bytes->data()), bytes->size());
    return credentials_from_docker_config(document, *path, host);
}

Result<std::optional<RegistryCredentials>> credentials_from_environment(const std::string& host)
{
    std::optional<std::string> username = environment("SPOREVM_REGISTRY_USERNAME");
    std::optional<std::string> password = environment("SPOREVM_REGISTRY_PASSWORD");
    if (username && !password)
        return Error::invalid("SPOREVM_REGISTRY_USERNAME is set without SPOREVM_REGISTRY_PASSWORD");
    if (password && !username)
        return Error::invalid("SPOREVM_REGISTRY_PASSWORD is set without SPOREVM_REGISTRY_USERNAME");
    if (username && username->find(':') != std::string::npos)
        return Error::invalid("SPOREVM_REGISTRY_USERNAME contains ':'");
    if (username)
        return std::optional(RegistryCredentials{*username, *password});
    return credentials_from_docker(host);
}

bool listed_as_insecure(const std::string& host)
{
    std::string list = environment("SPOREVM_INSECURE_REGISTRIES").value_or("");
    std::string wanted = lower_case(host);
    size_t start = 0;
    while (start <= list.size()) {
        size_t end = std::min(list.find(',', start), list.size());
        std::string_view item = std::string_view(list).substr(start, end - start);
        while (!item.empty() && item.front() == ' ')
            item.remove_prefix(1);
        while (!item.empty() && item.back() == ' ')
            item.remove_suffix(1);
        if (!item.empty() && lower_case(item) == wanted)
            return true;
        start = end + 1;
    }
    return false;
}

} // namespace

std::optional<std::string> AuthChallenge::parameter(std::string_view name) const
{
    for (const auto& [key, value] : parameters) {
        if (key == name)
            return value;
    }
    return std::nullopt;
}

Result<AuthChallenge> parse_challenge(std::string_view header)
{
    auto challenges = TRY(ChallengeParser(header).parse());
    std::string offered;
    for (auto& [scheme, challenge] : challenges) {
        if (scheme == "basic" || scheme == "bearer")
            return std::move(challenge);
        offered += (offered.empty() ? "" : ", ") + printable(scheme);
    }
    return Error::not_supported(
        "www-authenticate: no basic or bearer challenge: offers " + offered);
}

Result<std::string> token_request_url(const AuthChallenge& challenge, const std::string& scope)
{
    if (challenge.scheme != AuthScheme::Bearer)
        return Error::invalid("token request: not a bearer challenge");
    std::optional<std::string> realm = challenge.parameter("realm");
    if (!realm)
        return Error::invalid("bearer challenge: no realm");
    TRY(check_realm(*realm));

    std::string url = *realm;
    if (url.find('?') == std::string::npos)
        url += '?';
    else if (!url.ends_with('?') && !url.ends_with('&'))
        url += '&';
    if (std::optional<std::string> service = challenge.parameter("service"))
        url += "service=" + url_encode(*service) + "&";
    return url + "scope=" + url_encode(scope);
}

Result<BearerToken> parse_token_response(std::span<const uint8_t> body)
{
    if (body.size() > kMaxTokenResponseSize)
        return Error::invalid(
            "token response: longer than " + std::to_string(kMaxTokenResponseSize) + " bytes");
    std::optional<Json> document = parse_shallow_json(body);
    if (!document || !document->is_object())
        return Error::invalid("token response: not a JSON object");

    std::optional<std::string> token = string_member(*document, "token");
    if (!token || token->empty())
        token = string_member(*document, "access_token");
    if (!token || token->empty())
        return Error::invalid("token response: no \"token\" or \"access_token\" string");
    if (token->size() > kMaxTokenLength)
        return Error::invalid(
            "token response: token longer than " + std::to_string(kMaxTokenLength) + " bytes");
    if (!std::all_of(token->begin(), token->end(), is_visible_ascii))
        return Error::invalid("token response: token contains a space or a control character");

    BearerToken result{std::move(*token), std::nullopt};
    // A lifetime that is not a whole number of seconds is ignored; the
    // caller then assumes the protocol's default.
    auto expires_in = document->find("expires_in");
    if (expires_in != document->end() && expires_in->is_number_unsigned())
        result.expires_in = expires_in->get<uint64_t>();
    return result;
}

Result<std::optional<RegistryCredentials>> credentials_from_docker_config(
    std::string_view document, const std::string& file_name, const std::string& host)
{
    std::string context = "docker config " + file_name;
    if (document.size() > kMaxDockerConfigSize)
        return Error::invalid(
            context + ": longer than " + std::to_string(kMaxDockerConfigSize) + " bytes");
    std::span<const uint8_t> bytes(
        reinterpret_cast<const uint8_t*>(document.data()), document.size());
    std::optional<Json> config = parse_shallow_json(bytes);
    if (!config || !config->is_object())
        return Error::invalid(context + ": not a JSON object");

    auto auths = config->find("auths");
    if (auths == config->end())
        return std::optional<RegistryCredentials>();
    if (!auths->is_object())
        return Error::invalid(context + ": \"auths\" is not a JSON object");
    const Json* entry = config_entry_for(*auths, host);
    if (!entry)
        return std::optional<RegistryCredentials>();
    return credentials_from_entry(*entry, context + ": auths entry for " + printable(host));
}

std::optional<RegistryError> parse_registry_error(std::span<const uint8_t> body)
{
    if (body.size() > kMaxErrorBodySize)
        return std::nullopt;
    std::optional<Json> document = parse_shallow_json(body);
    if (!document || !document->is_object())
        return std::nullopt;
    auto errors = document->find("errors");
    if (errors == document->end() || !errors->is_array() || errors->empty())
        return std::nullopt;
    const Json& first = errors->front();
    if (!first.is_object())
        return std::nullopt;
    std::optional<std::string> code = string_member(first, "code");
    if (!code || code->empty())
        return std::nullopt;
    return RegistryError{printable(*code),
        printable(string_member(first, "message").value_or(""), kMaxErrorMessage)};
}

Result<RegistrySettings> registry_settings_from_environment(const std::string& host)
{
    RegistrySettings settings;
    settings.credentials = TRY(credentials_from_environment(host));
    settings.plain_http = listed_as_insecure(host);
    return settings;
}

} // namespace spore::remote
