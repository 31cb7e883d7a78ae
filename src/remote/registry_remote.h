#pragma once

// A bundle in an OCI distribution registry (OCI distribution spec v1.1):
// the image index and each spore's OCI manifest are manifests of the
// location's repository, everything else is a blob. Speaks HTTPS, or
// plain HTTP where allowed (RegistrySettings::plain_http); authenticates
// anonymously, with Basic credentials, or with bearer tokens from the
// realm the registry names in its WWW-Authenticate challenge.

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "common/error.h"
#include "remote/http_client.h"
#include "remote/location.h"
#include "remote/remote.h"

namespace spore::remote {

struct RegistryCredentials {
    std::string username;
    std::string password;
};

struct RegistrySettings {
    std::optional<RegistryCredentials> credentials;
    // Speak plain HTTP to this registry. Otherwise HTTPS, falling back to
    // plain HTTP only for a loopback host whose port does not speak TLS.
    bool plain_http = false;
};

// Credentials for host (with port) from SPOREVM_REGISTRY_USERNAME and
// SPOREVM_REGISTRY_PASSWORD, else from the "auths" entry for host in
// $DOCKER_CONFIG/config.json (default ~/.docker/config.json); none if
// neither has any. plain_http is set when host appears in the
// comma-separated SPOREVM_INSECURE_REGISTRIES.
Result<RegistrySettings> registry_settings_from_environment(const std::string& host);

struct AuthChallenge; // remote/registry_auth.h

class RegistryRemote final : public Remote {
public:
    static Result<std::unique_ptr<RegistryRemote>> create(
        const Location& location, RegistrySettings settings, std::shared_ptr<HttpClient> http);

    const std::string& describe() const override { return m_description; }
    Result<void> fetch(
        const ContentRef& content, uint64_t max_size, std::vector<uint8_t>& out) override;
    Result<bool> contains(const ContentRef& content, uint64_t size) override;
    Result<void> store(const ContentRef& content, std::span<const uint8_t> bytes) override;
    // Tags the index with the location's tag; with no tag, the index stays
    // reachable by digest only.
    Result<void> publish_index(const ContentRef& index, std::span<const uint8_t> bytes) override;

private:
    // Which protocol the registry speaks. Undecided only for a loopback
    // host without plain_http, until the first request finds out.
    enum class Scheme { Undecided, Https, Http };
    // What a request needs the registry to allow; bearer tokens are per scope.
    enum class Access { Pull, Push };

    // What a request sends to prove who it is; both empty for anonymous.
    struct Authorization {
        std::optional<std::string> header; // "Authorization: Bearer ..."
        std::optional<std::string> basic; // "user:password"

        void apply(HttpRequest& request) const;
    };

    struct Token {
        std::string header;
        std::chrono::steady_clock::time_point refresh_after;
    };

    RegistryRemote(std::string description, Location location, RegistrySettings settings,
        std::shared_ptr<HttpClient> http)
        : m_description(std::move(description))
        , m_location(std::move(location))
        , m_settings(std::move(settings))
        , m_http(std::move(http))
    {
    }

    Result<void> store_blob(const ContentRef& content, std::span<const uint8_t> bytes);
    Result<std::optional<std::string>> put_manifest(const std::string& reference,
        const ContentRef& content, std::span<const uint8_t> bytes, const std::string& operation);
    Result<std::string> tagged_digest(const ContentRef& index, const std::string& operation);
    Result<void> check_content(const ContentRef& content, const std::string& operation) const;

    // URLs: the first request to a loopback host settles the scheme.
    Result<void> decide_scheme(const std::string& operation);
    bool answers_plain_http(const Error& tls_failure);
    std::string origin();
    std::string api_url(const std::string& path);
    std::string content_url(const ContentRef& content);

    // Sends a request, authenticating as the registry asks when it goes to
    // the registry's own origin; requests elsewhere carry no credentials.
    // Any status may come back, but 401 only as an error.
    Result<void> send(const HttpRequest& request, Access access, const std::string& operation,
        HttpResponse& response);
    Result<void> transmit(
        const HttpRequest& request, const std::string& operation, HttpResponse& response);
    Result<void> follow_redirects(
        HttpRequest request, const std::string& operation, HttpResponse& response);

    // Authentication: what to send up front, how to answer a challenge,
    // and what to remember once an answer worked. Take m_lock themselves.
    std::string scope(Access access) const;
    Result<Authorization> authorization_for(Access access, const std::string& operation);
    Authorization basic_authorization() const;
    Result<Authorization> answer_challenge(const AuthChallenge& challenge, Access access,
        const std::string& operation, const HttpResponse& response);
    Result<Authorization> fetch_token(
        const AuthChallenge& challenge, Access access, const std::string& operation);
    void remember(const AuthChallenge& challenge);

    // Errors that start with the description and name the operation.
    Error failure(const std::string& operation, const HttpResponse& response) const;
    Error unauthorized(const std::string& operation, const HttpResponse& response) const;
    Error refuse(const std::string& operation, const std::string& problem) const;

    std::string m_description;
    Location m_location;
    RegistrySettings m_settings;
    std::shared_ptr<HttpClient> m_http;

    // Guards what concurrent requests learn and share: the scheme chosen,
    // and the current authorization header per scope.
    std::mutex m_lock;
    Scheme m_scheme = Scheme::Https;
    // Basic credentials worked once, so every request sends them.
    bool m_basic_accepted = false;
    // The challenge whose tokens worked, so later requests fetch a token
    // for their scope before asking instead of after a 401.
    std::shared_ptr<const AuthChallenge> m_bearer_challenge;
    std::map<std::string, Token> m_tokens; // by scope
};

} // namespace spore::remote
