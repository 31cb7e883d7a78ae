#pragma once

// Unpacking one spore out of a bundle (docs/bundle-format.md) into an
// ordinary spore directory.

#include <cstddef>
#include <optional>
#include <string>

#include "common/error.h"

namespace spore::bundle {

struct UnpackOptions {
    // The child to unpack, six digits; the parent when absent.
    std::optional<std::string> child;
    // Refuse the bundle unless index.json hashes to this "sha256:<hex>".
    std::optional<std::string> bundle_digest;
};

struct UnpackResult {
    std::string bundle_digest;
    std::string manifest_digest; // the spore's OCI manifest blob
    size_t chunks = 0; // distinct stored chunks
};

// Writes the chosen spore of the bundle at bundle_path to out_path, which
// must not exist. Every blob used (OCI manifest, spore manifest, chunks) is
// verified against its digest before use, and the chunk layers must be
// exactly the stored chunks the spore manifest lists. out_path appears
// atomically and durably, or not at all.
Result<UnpackResult> unpack_bundle(
    const std::string& bundle_path, const std::string& out_path, const UnpackOptions& options = {});

} // namespace spore::bundle
