#include "remote/location.h"

#include <algorithm>

#include "spore/digest.h"

namespace spore::remote {
namespace {

// Longest location accepted; far beyond any real bucket, host and path.
constexpr size_t kMaxLocationLength = 2048;

bool is_lower_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}
bool is_alnum(char c)
{
    return is_lower_alnum(c) || (c >= 'A' && c <= 'Z');
}

// Characters allowed in S3 key prefixes and web paths: unreserved URL
// characters and '/', so a location never needs escaping.
bool is_path_character(char c)
{
    return is_alnum(c) || c == '.' || c == '_' || c == '-' || c == '~' || c == '/';
}

// A path of '/'-separated segments, none empty, "." or "..".
bool is_clean_path(std::string_view path)
{
    if (path.empty())
        return true;
    if (!std::all_of(path.begin(), path.end(), is_path_character))
        return false;
    size_t start = 0;
    while (start <= path.size()) {
        size_t end = path.find('/', start);
        if (end == std::string_view::npos)
            end = path.size();
        std::string_view segment = path.substr(start, end - start);
        if (segment.empty() || segment == "." || segment == "..")
            return false;
        start = end + 1;
    }
    return true;
}

std::string_view trim_slashes(std::string_view text)
{
    while (text.ends_with('/'))
        text.remove_suffix(1);
    return text;
}

bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

bool all_digits(std::string_view text)
{
    return !text.empty() && std::all_of(text.begin(), text.end(), is_digit);
}

// Calls visit on each '.'-separated label of name, stopping at the first
// false it returns.
template <typename Visit> bool all_labels(std::string_view name, Visit visit)
{
    size_t start = 0;
    while (true) {
        size_t end = name.find('.', start);
        if (!visit(name.substr(start, end == std::string_view::npos ? end : end - start)))
            return false;
        if (end == std::string_view::npos)
            return true;
        start = end + 1;
    }
}

// A dotted-quad IPv4 address, each part 0 to 255.
bool is_ipv4_address(std::string_view text)
{
    size_t parts = 0;
    bool valid = all_labels(text, [&parts](std::string_view part) {
        parts++;
        return all_digits(part) && part.size() <= 3 && std::stoul(std::string(part)) <= 255;
    });
    return valid && parts == 4;
}

// A DNS name (RFC 1123): labels of letters, digits and '-', 1 to 63
// characters, not starting or ending with '-'.
bool is_dns_name(std::string_view name)
{
    if (name.empty() || name.size() > 253)
        return false;
    return all_labels(name, [](std::string_view label) {
        return !label.empty() && label.size() <= 63 && label.front() != '-' && label.back() != '-'
            && std::all_of(
                label.begin(), label.end(), [](char c) { return is_alnum(c) || c == '-'; });
    });
}

// The text between the brackets of [IPv6]: hex digits and ':' (with a
// dotted IPv4 tail allowed), at least one ':'. getaddrinfo has the last word.
bool is_ipv6_literal(std::string_view inside)
{
    bool characters = std::all_of(inside.begin(), inside.end(), [](char c) {
        return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || c == ':'
            || c == '.';
    });
    return characters && inside.find(':') != std::string_view::npos;
}

// A TCP port: 1 to 65535 in decimal.
bool is_port(std::string_view port)
{
    return all_digits(port) && port.size() <= 5 && std::stoul(std::string(port)) >= 1
        && std::stoul(std::string(port)) <= 65535;
}

// HOST[:PORT], where HOST is a DNS name, an IPv4 address or [IPv6].
bool is_host_and_port(std::string_view text)
{
    if (text.starts_with('[')) {
        size_t close = text.find(']');
        if (close == std::string_view::npos || !is_ipv6_literal(text.substr(1, close - 1)))
            return false;
        std::string_view rest = text.substr(close + 1);
        return rest.empty() || (rest.front() == ':' && is_port(rest.substr(1)));
    }
    size_t colon = text.find(':');
    std::string_view host = text.substr(0, colon);
    if (colon != std::string_view::npos && !is_port(text.substr(colon + 1)))
        return false;
    return is_dns_name(host);
}

// S3 bucket names: 3 to 63 lower-case letters, digits, '.' and '-',
// starting and ending with a letter or digit, with no two adjacent periods
// and not in the form of an IPv4 address (S3 "Bucket naming rules").
bool is_bucket_name(std::string_view name)
{
    return name.size() >= 3 && name.size() <= 63 && is_lower_alnum(name.front())
        && is_lower_alnum(name.back())
        && std::all_of(name.begin(), name.end(),
            [](char c) { return is_lower_alnum(c) || c == '.' || c == '-'; })
        && name.find("..") == std::string_view::npos && !is_ipv4_address(name);
}

// One OCI repository path component (OCI distribution spec, "Pulling"):
// [a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*, that is runs of lower-case
// alphanumerics joined by exactly one separator: '.', '_', "__" or any
// number of '-'.
bool is_repository_component(std::string_view component)
{
    size_t position = 0;
    auto skip = [&component, &position](auto accept) {
        size_t start = position;
        while (position < component.size() && accept(component[position]))
            position++;
        return position - start;
    };
    while (true) {
        if (skip(is_lower_alnum) == 0)
            return false;
        if (position == component.size())
            return true;
        size_t separator = position;
        size_t length = skip([](char c) { return c == '.' || c == '_' || c == '-'; });
        std::string_view run = component.substr(separator, length);
        bool dashes = std::all_of(run.begin(), run.end(), [](char c) { return c == '-'; });
        if (run != "." && run != "_" && run != "__" && !dashes)
            return false;
    }
}

bool is_repository(std::string_view name)
{
    if (name.empty() || name.size() > 255)
        return false;
    size_t start = 0;
    while (start <= name.size()) {
        size_t end = name.find('/', start);
        if (end == std::string_view::npos)
            end = name.size();
        if (!is_repository_component(name.substr(start, end - start)))
            return false;
        start = end + 1;
    }
    return true;
}

// OCI tags: [A-Za-z0-9_][A-Za-z0-9._-]{0,127}.
bool is_tag(std::string_view tag)
{
    return !tag.empty() && tag.size() <= 128 && (is_alnum(tag.front()) || tag.front() == '_')
        && std::all_of(tag.begin(), tag.end(),
            [](char c) { return is_alnum(c) || c == '.' || c == '_' || c == '-'; });
}

class LocationParser {
public:
    explicit LocationParser(std::string_view text)
        : m_text(text)
    {
    }

    Error refuse(const std::string& problem) const
    {
        return Error::invalid(
            "location \"" + std::string(m_text.substr(0, 200)) + "\": " + problem);
    }

    Result<Location> parse();

private:
    Result<void> parse_s3(std::string_view rest, Location& location) const;
    Result<void> parse_http(
        std::string_view scheme, std::string_view rest, Location& location) const;
    Result<void> parse_registry(std::string_view rest, Location& location) const;

    std::string_view m_text;
};

Result<Location> LocationParser::parse()
{
    if (m_text.empty())
        return refuse("empty");
    if (m_text.size() > kMaxLocationLength)
        return refuse("longer than " + std::to_string(kMaxLocationLength) + " characters");
    if (std::any_of(m_text.begin(), m_text.end(), [](char c) { return c < 0x21 || c > 0x7e; }))
        return refuse("contains a space or a control or non-ASCII character");

    Location location;
    std::string_view body = m_text;
    size_t at = body.rfind('@');
    size_t scheme_end = body.find("://");
    bool remote = scheme_end != std::string_view::npos;
    // user:password@host: the '@' ends the authority, not the location.
    size_t authority_end = remote ? body.find('/', scheme_end + 3) : std::string_view::npos;
    bool in_authority = remote && at != std::string_view::npos && at < authority_end
        && !body.substr(at + 1).starts_with(kDigestPrefix);
    if (in_authority)
        return refuse("credentials in the location are not allowed (use the environment)");
    if (at != std::string_view::npos
        && (remote || body.substr(at + 1).starts_with(kDigestPrefix))) {
        std::string_view digest = body.substr(at + 1);
        if (!is_valid_digest(digest))
            return refuse(
                "\"" + std::string(digest.substr(0, 80)) + "\" after '@' is not a sha256 digest");
        location.digest = std::string(digest);
        body = body.substr(0, at);
    }
    if (body.empty())
        return refuse("nothing before the digest");
    location.text = std::string(body);

    if (!remote) {
        location.kind = LocationKind::Directory;
        location.path = std::string(body);
        return location;
    }
    std::string_view scheme = body.substr(0, scheme_end);
    std::string_view rest = body.substr(scheme_end + 3);
    if (rest.find_first_of("?#") != std::string_view::npos)
        return refuse("a query or fragment is not allowed");
    if (rest.find('@') != std::string_view::npos)
        return refuse("credentials in the location are not allowed (use the environment)");
    if (scheme == "s3")
        TRY(parse_s3(rest, location));
    else if (scheme == "http" || scheme == "https")
        TRY(parse_http(scheme, rest, location));
    else if (scheme == "oci")
        TRY(parse_registry(rest, location));
    else
        return refuse("unknown scheme \"" + std::string(scheme.substr(0, 32))
            + "\" (use s3, http, https or oci)");
    return location;
}

Result<void> LocationParser::parse_s3(std::string_view rest, Location& location) const
{
    location.kind = LocationKind::S3;
    size_t slash = rest.find('/');
    std::string_view bucket = rest.substr(0, slash);
    std::string_view prefix
        = slash == std::string_view::npos ? "" : trim_slashes(rest.substr(slash + 1));
    if (!is_bucket_name(bucket))
        return refuse("\"" + std::string(bucket) + "\" is not an S3 bucket name");
    if (!is_clean_path(prefix))
        return refuse("the key prefix must be '/'-separated names of letters, digits and ._~-");
    location.bucket = std::string(bucket);
    location.prefix = std::string(prefix);
    return {};
}

Result<void> LocationParser::parse_http(
    std::string_view scheme, std::string_view rest, Location& location) const
{
    location.kind = LocationKind::Http;
    size_t slash = rest.find('/');
    std::string_view host = rest.substr(0, slash);
    std::string_view path
        = slash == std::string_view::npos ? "" : trim_slashes(rest.substr(slash + 1));
    if (!is_host_and_port(host))
        return refuse(
            "\"" + std::string(host) + "\" is not a host name or address with an optional port");
    if (!is_clean_path(path))
        return refuse("the path must be '/'-separated names of letters, digits and ._~-");
    location.host = std::string(host);
    location.base_url = std::string(scheme) + "://" + std::string(host) + (path.empty() ? "" : "/")
        + std::string(path);
    return {};
}

Result<void> LocationParser::parse_registry(std::string_view rest, Location& location) const
{
    location.kind = LocationKind::Registry;
    size_t slash = rest.find('/');
    if (slash == std::string_view::npos)
        return refuse("no repository after the registry host");
    std::string_view host = rest.substr(0, slash);
    std::string_view name = rest.substr(slash + 1);
    if (!is_host_and_port(host))
        return refuse(
            "\"" + std::string(host) + "\" is not a host name or address with an optional port");
    size_t colon = name.rfind(':');
    if (colon != std::string_view::npos) {
        std::string_view tag = name.substr(colon + 1);
        if (!is_tag(tag))
            return refuse("\"" + std::string(tag) + "\" is not a tag");
        location.tag = std::string(tag);
        name = name.substr(0, colon);
    }
    if (!is_repository(name))
        return refuse("\"" + std::string(name)
            + "\" is not a repository name (lower-case components separated by '/')");
    location.host = std::string(host);
    location.repository = std::string(name);
    return {};
}

} // namespace

Result<Location> parse_location(std::string_view text)
{
    return LocationParser(text).parse();
}

// Only names that cannot reach another machine: a DNS name that merely
// starts with "127." (127.example.com) is anyone's host.
bool is_loopback_host(std::string_view host_and_port)
{
    std::string_view host = host_and_port;
    if (host.starts_with('[')) {
        size_t close = host.find(']');
        return close != std::string_view::npos && host.substr(1, close - 1) == "::1";
    }
    host = host.substr(0, host.find(':'));
    bool localhost = host.size() == 9
        && std::equal(host.begin(), host.end(), "localhost",
            [](char left, char right) { return (left | 0x20) == right; });
    return localhost || (is_ipv4_address(host) && host.starts_with("127."));
}

} // namespace spore::remote
