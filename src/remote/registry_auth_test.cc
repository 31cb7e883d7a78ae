#include "remote/registry_auth.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <map>

#include <unistd.h>

namespace spore::remote {
namespace {

std::span<const uint8_t> bytes_of(std::string_view text)
{
    return {reinterpret_cast<const uint8_t*>(text.data()), text.size()};
}

// The error message parse_challenge gives for header, or "" if it parses.
std::string challenge_refusal(std::string_view header)
{
    auto challenge = parse_challenge(header);
    return challenge ? "" : challenge.error().message();
}

AuthChallenge bearer(std::vector<std::pair<std::string, std::string>> parameters)
{
    return AuthChallenge{AuthScheme::Bearer, std::move(parameters)};
}

TEST(Challenge, RegistryBearerChallengeParses)
{
    auto challenge = parse_challenge(R"(Bearer realm="http://127.0.0.1:5001/token",)"
                                     R"(service="test-registry",scope="repository:ci/base:pull")");
    ASSERT_TRUE(challenge) << challenge.error().message();
    EXPECT_EQ(challenge->scheme, AuthScheme::Bearer);
    EXPECT_EQ(challenge->parameter("realm"), "http://127.0.0.1:5001/token");
    EXPECT_EQ(challenge->parameter("service"), "test-registry");
    EXPECT_EQ(challenge->parameter("scope"), "repository:ci/base:pull");
    EXPECT_EQ(challenge->parameter("error"), std::nullopt);
}

TEST(Challenge, BearerChallengeWithEscapedQuoteParses)
{
    auto challenge = parse_challenge(R"(Bearer realm="say \"hi\" \\ there")");
    ASSERT_TRUE(challenge) << challenge.error().message();
    EXPECT_EQ(challenge->parameter("realm"), R"(say "hi" \ there)");
}

TEST(Challenge, SchemeAndParameterNamesIgnoreCase)
{
    auto challenge = parse_challenge(R"(bEaReR REALM="x", Service="y")");
    ASSERT_TRUE(challenge) << challenge.error().message();
    EXPECT_EQ(challenge->scheme, AuthScheme::Bearer);
    EXPECT_EQ(challenge->parameter("realm"), "x");
    EXPECT_EQ(challenge->parameter("service"), "y");
}

TEST(Challenge, BasicChallengeWithTokenValueParses)
{
    auto challenge = parse_challenge("Basic realm=registry");
    ASSERT_TRUE(challenge) << challenge.error().message();
    EXPECT_EQ(challenge->scheme, AuthScheme::Basic);
    EXPECT_EQ(challenge->parameter("realm"), "registry");
}

TEST(Challenge, SchemeAloneParses)
{
    auto challenge = parse_challenge("Basic");
    ASSERT_TRUE(challenge) << challenge.error().message();
    EXPECT_TRUE(challenge->parameters.empty());
}

TEST(Challenge, SpacesAroundEqualsAndCommasAreAllowed)
{
    auto challenge = parse_challenge("Bearer  realm = \"x\" ,\tservice=y  ");
    ASSERT_TRUE(challenge) << challenge.error().message();
    EXPECT_EQ(challenge->parameter("realm"), "x");
    EXPECT_EQ(challenge->parameter("service"), "y");
}

TEST(Challenge, EmptyListElementsAreSkipped)
{
    auto challenge = parse_challenge(R"(, Bearer realm="x",, service="y",)");
    ASSERT_TRUE(challenge) << challenge.error().message();
    EXPECT_EQ(challenge->parameters.size(), 2u);
}

TEST(Challenge, FirstBasicOrBearerChallengeIsChosen)
{
    auto challenge
        = parse_challenge(R"(Negotiate, Basic realm="a", Bearer realm="b", service="s")");
    ASSERT_TRUE(challenge) << challenge.error().message();
    EXPECT_EQ(challenge->scheme, AuthScheme::Basic);
    // The Bearer challenge's parameters belong to it, not to Basic.
    ASSERT_EQ(challenge->parameters.size(), 1u);
    EXPECT_EQ(challenge->parameter("realm"), "a");
}

TEST(Challenge, UnsupportedSchemesAloneAreNotSupported)
{
    auto challenge = parse_challenge(R"(Negotiate, Digest realm="x", nonce="y")");
    ASSERT_FALSE(challenge);
    EXPECT_EQ(challenge.error().code(), ErrorCode::NotSupported);
    EXPECT_NE(challenge.error().message().find("negotiate, digest"), std::string::npos);
}

TEST(Challenge, UnicodeInQuotedValueIsKept)
{
    auto challenge = parse_challenge("Basic realm=\"caf\xc3\xa9\"");
    ASSERT_TRUE(challenge) << challenge.error().message();
    EXPECT_EQ(challenge->parameter("realm"), "caf\xc3\xa9");
}

TEST(Challenge, MalformedHeadersAreRefused)
{
    const char* headers[] = {
        "",
        " , ,",
        "Bearer realm",
        "Bearer realm=",
        "Bearer realm=\"unterminated",
        "Bearer realm=\"ends in backslash\\",
        "Bearer realm=\"x\" service=\"y\"",
        "Bearer realm=\"x\"service=\"y\"",
        "Basic dXNlcjpwYXNz",
        "Basic dXNlcjpwYXNz==",
        "Bearer=realm",
        "\"Bearer\" realm=x",
        "Bearer realm=x y",
        "Bearer realm=\"x\"; service=y",
        "Bearer;realm=x",
    };
    for (const char* header : headers)
        EXPECT_NE(challenge_refusal(header), "") << header;
}

TEST(Challenge, ControlCharacterInQuotedStringIsRefused)
{
    EXPECT_NE(challenge_refusal("Bearer realm=\"a\nb\""), "");
    EXPECT_NE(challenge_refusal("Bearer realm=\"a\\\rb\""), "");
    EXPECT_NE(challenge_refusal(std::string("Bearer realm=\"a\0b\"", 18)), "");
    EXPECT_NE(challenge_refusal("Bearer realm=\"a\x7f\""), "");
}

TEST(Challenge, DuplicateParameterIsRefused)
{
    EXPECT_NE(challenge_refusal(R"(Bearer realm="a", REALM="b")"), "");
}

TEST(Challenge, SixteenParametersParseButSeventeenAreRefused)
{
    std::string header = "Bearer p0=v";
    for (int i = 1; i < 16; i++)
        header += ", p" + std::to_string(i) + "=v";
    EXPECT_EQ(challenge_refusal(header), "");
    EXPECT_NE(challenge_refusal(header + ", p16=v"), "");
}

TEST(Challenge, ParameterLimitCountsEveryChallenge)
{
    std::string header = "Basic a=1, b=2, c=3, d=4, e=5, f=6, g=7, h=8";
    header += ", Bearer a=1, b=2, c=3, d=4, e=5, f=6, g=7, h=8, i=9";
    EXPECT_NE(challenge_refusal(header), "");
}

TEST(Challenge, HeaderOfFourKibibytesParsesButLongerIsRefused)
{
    std::string header = "Bearer realm=\"";
    header += std::string(kMaxChallengeLength - header.size() - 1, 'x') + "\"";
    ASSERT_EQ(header.size(), kMaxChallengeLength);
    EXPECT_EQ(challenge_refusal(header), "");
    header.insert(14, "x");
    EXPECT_NE(challenge_refusal(header), "");
}

TEST(TokenRequest, UrlCarriesServiceAndEncodedScope)
{
    auto challenge = bearer(
        {{"realm", "https://auth.example.com/token"}, {"service", "registry.example.com"}});
    auto url = token_request_url(challenge, "repository:ci/base:pull,push");
    ASSERT_TRUE(url) << url.error().message();
    EXPECT_EQ(*url,
        "https://auth.example.com/token?service=registry.example.com"
        "&scope=repository%3Aci%2Fbase%3Apull%2Cpush");
}

TEST(TokenRequest, UrlWithoutServiceCarriesScopeOnly)
{
    auto url
        = token_request_url(bearer({{"realm", "http://127.0.0.1:1/token"}}), "repository:a:pull");
    ASSERT_TRUE(url) << url.error().message();
    EXPECT_EQ(*url, "http://127.0.0.1:1/token?scope=repository%3Aa%3Apull");
}

TEST(TokenRequest, UrlExtendsRealmQuery)
{
    auto with_query = token_request_url(bearer({{"realm", "https://a/token?x=1"}}), "s");
    ASSERT_TRUE(with_query);
    EXPECT_EQ(*with_query, "https://a/token?x=1&scope=s");
    auto open_query = token_request_url(bearer({{"realm", "https://a/token?"}}), "s");
    ASSERT_TRUE(open_query);
    EXPECT_EQ(*open_query, "https://a/token?scope=s");
}

TEST(TokenRequest, ServiceIsPercentEncoded)
{
    auto url = token_request_url(
        bearer({{"realm", "https://a/t"}, {"service", "a b&c=d\xc3\xa9"}}), "s");
    ASSERT_TRUE(url);
    EXPECT_EQ(*url, "https://a/t?service=a%20b%26c%3Dd%C3%A9&scope=s");
}

TEST(TokenRequest, RealmMustBeHttpOrHttpsUrl)
{
    const char* realms[] = {"ftp://a/token", "file:///etc/passwd", "javascript:alert(1)", "/token",
        "https://", "https:///token", "http://a/to ken", "http://a/token#x", "http://a/\r\nX: y",
        "https://a/\xc3\xa9"};
    for (const char* realm : realms)
        EXPECT_FALSE(token_request_url(bearer({{"realm", realm}}), "s")) << realm;
    EXPECT_TRUE(token_request_url(bearer({{"realm", "HTTPS://A/token"}}), "s"));
}

TEST(TokenRequest, ChallengeWithoutRealmIsRefused)
{
    EXPECT_FALSE(token_request_url(bearer({{"service", "x"}}), "s"));
}

TEST(TokenRequest, BasicChallengeIsRefused)
{
    AuthChallenge basic{AuthScheme::Basic, {{"realm", "https://a/token"}}};
    EXPECT_FALSE(token_request_url(basic, "s"));
}

TEST(TokenRequest, OverlongRealmIsRefused)
{
    std::string realm = "https://a/" + std::string(3000, 'x');
    EXPECT_FALSE(token_request_url(bearer({{"realm", realm}}), "s"));
}

TEST(TokenResponse, TokenIsRead)
{
    auto token = parse_token_response(bytes_of(R"({"token":"abc.def.ghi","issued_at":"x"})"));
    ASSERT_TRUE(token) << token.error().message();
    EXPECT_EQ(token->token, "abc.def.ghi");
    EXPECT_EQ(token->expires_in, std::nullopt);
}

TEST(TokenResponse, AccessTokenIsUsedWithoutToken)
{
    auto token = parse_token_response(bytes_of(R"({"access_token":"xyz","expires_in":300})"));
    ASSERT_TRUE(token) << token.error().message();
    EXPECT_EQ(token->token, "xyz");
    EXPECT_EQ(token->expires_in, 300u);
}

TEST(TokenResponse, TokenWinsOverAccessToken)
{
    auto token = parse_token_response(bytes_of(R"({"access_token":"second","token":"first"})"));
    ASSERT_TRUE(token);
    EXPECT_EQ(token->token, "first");
}

TEST(TokenResponse, EmptyTokenFallsBackToAccessToken)
{
    auto token = parse_token_response(bytes_of(R"({"token":"","access_token":"second"})"));
    ASSERT_TRUE(token);
    EXPECT_EQ(token->token, "second");
}

TEST(TokenResponse, ExpiresInThatIsNotAWholeNumberIsIgnored)
{
    for (const char* value : {"-5", "\"300\"", "1.5", "null", "[]"}) {
        std::string body = std::string(R"({"token":"t","expires_in":)") + value + "}";
        auto token = parse_token_response(bytes_of(body));
        ASSERT_TRUE(token) << value;
        EXPECT_EQ(token->expires_in, std::nullopt) << value;
    }
}

TEST(TokenResponse, ResponsesWithoutUsableTokenAreRefused)
{
    const char* bodies[] = {"", "null", "[]", "\"token\"", "{}", R"({"token":5})",
        R"({"token":null})", R"({"token":["a"]})", R"({"token":""})", R"({"token":"a b"})",
        R"({"token":"a\r\nX-Injected: 1"})", R"({"token":"a\u0000b"})", "{\"token\":\"a\"",
        "{\"token\":\"\xff\"}", R"({"token":"a"} trailing)"};
    for (const char* body : bodies)
        EXPECT_FALSE(parse_token_response(bytes_of(body))) << body;
}

TEST(TokenResponse, TokenAtLengthLimitParsesButLongerIsRefused)
{
    std::string at_limit = R"({"token":")" + std::string(kMaxTokenLength, 'a') + "\"}";
    EXPECT_TRUE(parse_token_response(bytes_of(at_limit)));
    std::string over = R"({"token":")" + std::string(kMaxTokenLength + 1, 'a') + "\"}";
    EXPECT_FALSE(parse_token_response(bytes_of(over)));
}

TEST(TokenResponse, OverlongBodyIsRefused)
{
    std::string body = R"({"token":"t","pad":")" + std::string(kMaxTokenResponseSize, ' ') + "\"}";
    auto token = parse_token_response(bytes_of(body));
    ASSERT_FALSE(token);
    EXPECT_NE(token.error().message().find("longer than"), std::string::npos);
}

TEST(TokenResponse, DeeplyNestedBodyIsRefused)
{
    std::string body
        = R"({"token":"t","x":)" + std::string(10000, '[') + std::string(10000, ']') + "}";
    EXPECT_FALSE(parse_token_response(bytes_of(body)));
    std::string shallow = R"({"token":"t","x":[[[1]]]})";
    EXPECT_TRUE(parse_token_response(bytes_of(shallow)));
}

const std::string kFile = "/home/me/.docker/config.json";

// "user:secret:with:colons" in base64.
const std::string kAuth = "dXNlcjpzZWNyZXQ6d2l0aDpjb2xvbnM=";

TEST(DockerConfig, AuthDecodesToUserAndPassword)
{
    std::string document = R"({"auths":{"registry.example.com:5000":{"auth":")" + kAuth + "\"}}}";
    auto credentials = credentials_from_docker_config(document, kFile, "registry.example.com:5000");
    ASSERT_TRUE(credentials) << credentials.error().message();
    ASSERT_TRUE(credentials->has_value());
    EXPECT_EQ((*credentials)->username, "user");
    EXPECT_EQ((*credentials)->password, "secret:with:colons");
}

TEST(DockerConfig, UrlShapedKeysMatchTheHost)
{
    for (const char* key : {"https://r.example.com", "http://r.example.com/v2/", "r.example.com/",
             "HTTPS://R.Example.com/v1/"}) {
        std::string document
            = std::string(R"({"auths":{")") + key + R"(":{"auth":")" + kAuth + "\"}}}";
        auto credentials = credentials_from_docker_config(document, kFile, "r.example.com");
        ASSERT_TRUE(credentials) << key;
        EXPECT_TRUE(credentials->has_value()) << key;
    }
}

TEST(DockerConfig, ExactKeyWinsOverUrlKey)
{
    std::string document = R"({"auths":{"https://r.example.com":{"username":"url","password":"p"},)"
                           R"("r.example.com":{"username":"exact","password":"p"}}})";
    auto credentials = credentials_from_docker_config(document, kFile, "r.example.com");
    ASSERT_TRUE(credentials && credentials->has_value());
    EXPECT_EQ((*credentials)->username, "exact");
}

TEST(DockerConfig, UsernameAndPasswordFieldsAreRead)
{
    std::string document = R"({"auths":{"r":{"username":"u","password":"p w"}}})";
    auto credentials = credentials_from_docker_config(document, kFile, "r");
    ASSERT_TRUE(credentials && credentials->has_value());
    EXPECT_EQ((*credentials)->username, "u");
    EXPECT_EQ((*credentials)->password, "p w");
}

TEST(DockerConfig, NoMatchingEntryMeansNoCredentials)
{
    const char* documents[] = {"{}", R"({"auths":{}})", R"({"auths":{"r:5000":{"auth":"eDp5"}}})",
        R"({"auths":{"other":{"auth":"eDp5"}}})", R"({"auths":{"r":{}}})",
        R"({"auths":{"r":{"auth":""}}, "credsStore":"desktop"})",
        R"({"auths":{"r":{"username":"u"}}})", R"({"auths":{"rr":{"auth":"eDp5"}}})"};
    for (const char* document : documents) {
        auto credentials = credentials_from_docker_config(document, kFile, "r");
        ASSERT_TRUE(credentials) << document << ": " << credentials.error().message();
        EXPECT_FALSE(credentials->has_value()) << document;
    }
}

TEST(DockerConfig, MalformedDocumentIsAnErrorNamingTheFile)
{
    const char* documents[] = {"", "{", "[]", "null", "{\"auths\":[]}", "{\"auths\":{\"r\":\"x\"}}",
        "{\"auths\":{\"r\":{\"auth\":\"%%%%\"}}}", "{\"auths\":{\"r\":{\"auth\":\"abc\"}}}",
        "{\"auths\":{\"r\":{\"auth\":\"bm9jb2xvbg==\"}}}",
        "{\"auths\":{\"r\":{\"auth\":\"OnB3\"}}}",
        "{\"auths\":{\"r\":{\"username\":\"a:b\",\"password\":\"p\"}}}"};
    for (const char* document : documents) {
        auto credentials = credentials_from_docker_config(document, kFile, "r");
        ASSERT_FALSE(credentials) << document;
        EXPECT_NE(credentials.error().message().find(kFile), std::string::npos) << document;
    }
}

TEST(DockerConfig, ErrorsDoNotQuoteTheAuthValue)
{
    std::string document = R"({"auths":{"r":{"auth":"c2VjcmV0"}}})"; // "secret", no colon
    auto credentials = credentials_from_docker_config(document, kFile, "r");
    ASSERT_FALSE(credentials);
    EXPECT_EQ(credentials.error().message().find("c2VjcmV0"), std::string::npos);
    EXPECT_EQ(credentials.error().message().find("secret"), std::string::npos);
}

TEST(DockerConfig, DeeplyNestedOrOverlongDocumentIsRefused)
{
    std::string deep = R"({"x":)" + std::string(5000, '[') + std::string(5000, ']') + "}";
    EXPECT_FALSE(credentials_from_docker_config(deep, kFile, "r"));
    std::string overlong(kMaxDockerConfigSize + 1, ' ');
    EXPECT_FALSE(credentials_from_docker_config(overlong, kFile, "r"));
}

TEST(RegistryError, FirstCodeAndMessageAreRead)
{
    auto error
        = parse_registry_error(bytes_of(R"({"errors":[{"code":"BLOB_UNKNOWN",)"
                                        R"("message":"blob unknown to registry","detail":{}},)"
                                        R"({"code":"OTHER"}]})"));
    ASSERT_TRUE(error);
    EXPECT_EQ(error->code, "BLOB_UNKNOWN");
    EXPECT_EQ(error->message, "blob unknown to registry");
}

TEST(RegistryError, UnexpectedBodiesGiveNone)
{
    const char* bodies[] = {"", "<html>", "{}", R"({"errors":[]})", R"({"errors":{}})",
        R"({"errors":[5]})", R"({"errors":[{"code":5}]})", R"({"errors":[{"message":"m"}]})"};
    for (const char* body : bodies)
        EXPECT_FALSE(parse_registry_error(bytes_of(body))) << body;
}

TEST(RegistryError, TextIsMadePrintableAndShort)
{
    std::string body
        = R"({"errors":[{"code":"A\u001b[31mB","message":")" + std::string(500, 'm') + "\"}]}";
    auto error = parse_registry_error(bytes_of(body));
    ASSERT_TRUE(error);
    EXPECT_EQ(error->code, "A?[31mB");
    EXPECT_LT(error->message.size(), 210u);
}

// Sets environment variables for one test and restores them after.
class ScopedEnvironment {
public:
    ~ScopedEnvironment()
    {
        for (const auto& [name, value] : m_saved) {
            if (value)
                ::setenv(name.c_str(), value->c_str(), 1);
            else
                ::unsetenv(name.c_str());
        }
    }

    void set(const std::string& name, const std::optional<std::string>& value)
    {
        if (!m_saved.contains(name)) {
            const char* old = std::getenv(name.c_str());
            m_saved[name] = old ? std::optional<std::string>(old) : std::nullopt;
        }
        if (value)
            ::setenv(name.c_str(), value->c_str(), 1);
        else
            ::unsetenv(name.c_str());
    }

private:
    std::map<std::string, std::optional<std::string>> m_saved;
};

class RegistrySettingsTest : public ::testing::Test {
protected:
    void SetUp() override
    {
        char pattern[] = "/tmp/registry-settings-XXXXXX";
        ASSERT_NE(::mkdtemp(pattern), nullptr);
        m_directory = pattern;
        m_environment.set("SPOREVM_REGISTRY_USERNAME", std::nullopt);
        m_environment.set("SPOREVM_REGISTRY_PASSWORD", std::nullopt);
        m_environment.set("SPOREVM_INSECURE_REGISTRIES", std::nullopt);
        m_environment.set("DOCKER_CONFIG", m_directory);
    }

    void TearDown() override
    {
        ::unlink((m_directory + "/config.json").c_str());
        ::rmdir(m_directory.c_str());
    }

    void write_config(const std::string& text)
    {
        std::ofstream(m_directory + "/config.json") << text;
    }

    ScopedEnvironment m_environment;
    std::string m_directory;
};

TEST_F(RegistrySettingsTest, EnvironmentCredentialsComeFirst)
{
    write_config(R"({"auths":{"r":{"username":"docker","password":"p"}}})");
    m_environment.set("SPOREVM_REGISTRY_USERNAME", "env");
    m_environment.set("SPOREVM_REGISTRY_PASSWORD", "secret");
    auto settings = registry_settings_from_environment("r");
    ASSERT_TRUE(settings) << settings.error().message();
    ASSERT_TRUE(settings->credentials);
    EXPECT_EQ(settings->credentials->username, "env");
    EXPECT_EQ(settings->credentials->password, "secret");
    EXPECT_FALSE(settings->plain_http);
}

TEST_F(RegistrySettingsTest, UsernameWithoutPasswordIsRefused)
{
    m_environment.set("SPOREVM_REGISTRY_USERNAME", "env");
    EXPECT_FALSE(registry_settings_from_environment("r"));
}

TEST_F(RegistrySettingsTest, DockerConfigSuppliesCredentials)
{
    write_config(R"({"auths":{"https://r:5000/v2/":{"auth":")" + kAuth + "\"}}}");
    auto settings = registry_settings_from_environment("r:5000");
    ASSERT_TRUE(settings) << settings.error().message();
    ASSERT_TRUE(settings->credentials);
    EXPECT_EQ(settings->credentials->username, "user");
}

TEST_F(RegistrySettingsTest, MissingDockerConfigMeansAnonymous)
{
    auto settings = registry_settings_from_environment("r");
    ASSERT_TRUE(settings) << settings.error().message();
    EXPECT_FALSE(settings->credentials);
}

TEST_F(RegistrySettingsTest, MalformedDockerConfigIsAnErrorNamingTheFile)
{
    write_config("{\"auths\": nope");
    auto settings = registry_settings_from_environment("r");
    ASSERT_FALSE(settings);
    EXPECT_NE(settings.error().message().find(m_directory + "/config.json"), std::string::npos);
}

TEST_F(RegistrySettingsTest, InsecureRegistriesListSetsPlainHttp)
{
    m_environment.set("SPOREVM_INSECURE_REGISTRIES", "a:1, Registry.Local:5000 ,b");
    auto listed = registry_settings_from_environment("registry.local:5000");
    ASSERT_TRUE(listed);
    EXPECT_TRUE(listed->plain_http);
    auto other_port = registry_settings_from_environment("registry.local:5001");
    ASSERT_TRUE(other_port);
    EXPECT_FALSE(other_port->plain_http);
}

} // namespace
} // namespace spore::remote
