#pragma once

// The parts of speaking to a registry that read untrusted text: the
// WWW-Authenticate challenge a registry answers 401 with (RFC 7235 section
// 4.1), the token server's answer (Docker registry token protocol), a
// docker config.json, and a registry's error body. Pure functions, so each
// is tested and fuzzed alone. Errors never quote a credential.

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/error.h"
#include "remote/registry_remote.h"

namespace spore::remote {

// Longest WWW-Authenticate value parsed, and most auth-params in it.
inline constexpr size_t kMaxChallengeLength = 4096;
inline constexpr size_t kMaxChallengeParameters = 16;
// Largest token server answer read, and longest token accepted.
inline constexpr uint64_t kMaxTokenResponseSize = 64 << 10;
inline constexpr size_t kMaxTokenLength = 16 << 10;
// Largest docker config.json read.
inline constexpr uint64_t kMaxDockerConfigSize = 1 << 20;
// Largest registry error body parsed; longer ones are quoted, not parsed.
inline constexpr uint64_t kMaxErrorBodySize = 64 << 10;

enum class AuthScheme { Basic, Bearer };

struct AuthChallenge {
    AuthScheme scheme = AuthScheme::Basic;
    // Names in lower case, each at most once; values unquoted.
    std::vector<std::pair<std::string, std::string>> parameters;

    // The value of a (lower-case) parameter.
    std::optional<std::string> parameter(std::string_view name) const;
};

// Parses a WWW-Authenticate value and returns its first Basic or Bearer
// challenge (scheme names are case-insensitive); challenges of other
// schemes are skipped. InvalidInput for a malformed or oversized value,
// NotSupported when it offers neither scheme.
Result<AuthChallenge> parse_challenge(std::string_view header);

// The URL to ask a Bearer challenge's realm for a token for scope, such as
// "repository:ci/base:pull,push": the realm with service (when the
// challenge names one) and scope added to its query. The realm must be an
// http or https URL without a fragment.
Result<std::string> token_request_url(const AuthChallenge& challenge, const std::string& scope);

struct BearerToken {
    // Printable ASCII without spaces, so it is safe in a header line.
    std::string token;
    // Lifetime in seconds, when the server says.
    std::optional<uint64_t> expires_in;
};

// Parses a token server's JSON answer: "token", else "access_token", and
// the optional "expires_in".
Result<BearerToken> parse_token_response(std::span<const uint8_t> body);

// The credentials a docker config.json document (read from file_name,
// which errors name) holds for host: the "auths" entry keyed by host, or
// by a URL of it ("https://host", "http://host/v2/"), with a base64 "auth"
// of "user:password" or "username" and "password" fields. None when no
// entry matches or the entry holds neither (credential helpers are not
// consulted).
Result<std::optional<RegistryCredentials>> credentials_from_docker_config(
    std::string_view document, const std::string& file_name, const std::string& host);

// The first entry of a registry's error body, {"errors": [{"code": ...,
// "message": ...}]} (OCI distribution spec, "Error Codes"), cut short and
// reduced to printable ASCII for messages.
struct RegistryError {
    std::string code;
    std::string message;
};

// None unless body is such a document of at most kMaxErrorBodySize bytes.
std::optional<RegistryError> parse_registry_error(std::span<const uint8_t> body);

} // namespace spore::remote
