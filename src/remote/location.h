#pragma once

// Where a bundle lives, as written on the command line:
//
//   s3://BUCKET[/PREFIX]               an S3 bucket (docs/bundle-format.md)
//   http[s]://HOST[:PORT][/PATH]       a static web server (pull only)
//   oci://HOST[:PORT]/REPOSITORY[:TAG] an OCI distribution registry
//   PATH                               a bundle directory on this host
//
// each optionally followed by "@sha256:<hex>", the bundle digest. Parsing
// is strict: a location names exactly one place, with no credentials,
// query or fragment in it.

#include <optional>
#include <string>
#include <string_view>

#include "common/error.h"

namespace spore::remote {

enum class LocationKind { Directory, S3, Http, Registry };

struct Location {
    LocationKind kind = LocationKind::Directory;
    // The location as written, without the digest.
    std::string text;
    // The bundle digest after '@', if given.
    std::optional<std::string> digest;

    // Directory: the path.
    std::string path;
    // S3: the bucket and the key prefix (no leading or trailing '/').
    std::string bucket;
    std::string prefix;
    // Http: scheme, host and path, without a trailing '/'.
    std::string base_url;
    // Registry: host with any port, repository, and the tag if given.
    std::string host;
    std::string repository;
    std::optional<std::string> tag;
};

// Parses a location. Errors start with "location \"TEXT\": ".
Result<Location> parse_location(std::string_view text);

// Whether host (without port) is a loopback name or address.
bool is_loopback_host(std::string_view host_and_port);

} // namespace spore::remote
