// Fuzzes what a registry client reads from the network and from the
// user's docker config: the WWW-Authenticate parser, the token server's
// answer, a registry's error body and config.json. The whole input is fed
// to each. Whatever parses must hold to the parsers' bounds, and a parsed
// challenge must yield either a refused realm or a token URL of printable
// ASCII, so nothing a peer sends can reach a header line unescaped.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <string>
#include <string_view>

#include "remote/registry_auth.h"

namespace {

using namespace spore::remote;

void check(bool condition, const char* what)
{
    if (!condition) {
        std::fprintf(stderr, "registry_auth_fuzz: %s\n", what);
        std::abort();
    }
}

bool is_visible_ascii(std::string_view text)
{
    return std::all_of(text.begin(), text.end(), [](char c) { return c > 0x20 && c < 0x7f; });
}

bool is_http_url(std::string_view url)
{
    std::string prefix(url.substr(0, 8));
    std::transform(prefix.begin(), prefix.end(), prefix.begin(),
        [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; });
    return prefix.starts_with("http://") || prefix == "https://";
}

void check_challenge(std::string_view header)
{
    auto challenge = parse_challenge(header);
    if (!challenge)
        return;
    check(header.size() <= kMaxChallengeLength, "an oversized header parsed");
    check(challenge->parameters.size() <= kMaxChallengeParameters, "too many parameters kept");
    for (const auto& [name, value] : challenge->parameters) {
        check(!name.empty(), "a parameter without a name");
        check(std::none_of(name.begin(), name.end(), [](char c) { return c >= 'A' && c <= 'Z'; }),
            "a parameter name not in lower case");
        check(value.size() <= header.size(), "a value longer than the header");
    }
    if (challenge->scheme != AuthScheme::Bearer)
        return;
    auto url = token_request_url(*challenge, "repository:fuzz/target:pull,push");
    if (url) {
        check(is_visible_ascii(*url), "a token url with unsafe characters");
        check(is_http_url(*url), "a token url that is not http or https");
    }
}

void check_token(std::span<const uint8_t> body)
{
    auto token = parse_token_response(body);
    if (!token)
        return;
    check(!token->token.empty() && token->token.size() <= kMaxTokenLength, "token size");
    check(is_visible_ascii(token->token), "a token unsafe in a header");
}

void check_registry_error(std::span<const uint8_t> body)
{
    auto error = parse_registry_error(body);
    if (!error)
        return;
    check(!error->code.empty(), "an error without a code");
    check(error->code.size() < 100 && error->message.size() < 300, "error text not cut short");
}

void check_docker_config(std::string_view document)
{
    for (const char* host : {"registry.example.com", "127.0.0.1:5000", "r"}) {
        auto credentials = credentials_from_docker_config(document, "/fuzz/config.json", host);
        if (credentials && *credentials) {
            const RegistryCredentials& found = **credentials;
            check(!found.username.empty(), "credentials without a username");
            check(found.username.find(':') == std::string::npos, "a username with ':'");
        }
    }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    std::span<const uint8_t> bytes(data, size);
    std::string_view text(reinterpret_cast<const char*>(data), size);
    check_challenge(text);
    check_token(bytes);
    check_registry_error(bytes);
    check_docker_config(text);
    return 0;
}
