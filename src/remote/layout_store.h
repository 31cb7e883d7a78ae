#pragma once

// Object names of a bundle kept as an OCI image layout under a prefix, as
// S3 buckets, web servers and directories hold it (docs/bundle-format.md):
//
//   PREFIX/oci-layout
//   PREFIX/index.json
//   PREFIX/blobs/sha256/<hex>     every blob and manifest, index included

#include <string>
#include <string_view>

namespace spore::remote {

inline constexpr std::string_view kLayoutObjectName = "oci-layout";
inline constexpr std::string_view kIndexObjectName = "index.json";
// The whole oci-layout file every SporeVM writer emits.
inline constexpr std::string_view kLayoutObjectText = R"({"imageLayoutVersion":"1.0.0"})";

// "PREFIX/blobs/sha256/<hex>" for a valid "sha256:<hex>" digest; prefix may be empty.
std::string blob_object_name(std::string_view prefix, std::string_view digest);

// "PREFIX/NAME", or NAME alone for an empty prefix.
std::string object_name(std::string_view prefix, std::string_view name);

} // namespace spore::remote
