#pragma once

// Finding one spore in a bundle and checking everything that describes it
// before any chunk is touched, whatever the bundle's source: the index
// entry, the spore's OCI manifest and its spore manifest, each verified
// against the digest that names it, and the chunk layers against the
// spore manifest. Shared by unpacking a local bundle and pulling a remote
// one.

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "bundle/bundle_json.h"
#include "common/error.h"
#include "remote/remote.h"
#include "spore/manifest.h"

namespace spore::bundle {

struct ResolvedSpore {
    // The index entry: the spore's OCI manifest.
    Descriptor entry;
    ArtifactManifest artifact;
    Manifest manifest;

    // The chunk layers: each distinct stored chunk once, in order of first use.
    std::span<const Descriptor> chunk_layers() const
    {
        return std::span(artifact.layers).subspan(1);
    }
};

// Returns a blob's bytes, already checked against the descriptor's size
// and digest (verify_blob_bytes), refusing more than limit bytes.
using VerifiedFetch = std::function<Result<std::vector<uint8_t>>(
    const Descriptor&, remote::ContentKind, uint64_t limit)>;

// Resolves the parent (child absent) or the named child of an index.
// Errors of fetch are passed on as they are (fetchers name their source);
// the others are prefixed with what, the bundle's name.
Result<ResolvedSpore> resolve_spore(const ImageIndex& index,
    const std::optional<std::string>& child, const VerifiedFetch& fetch, const std::string& what);

// Checks bytes against a descriptor: exact size first, then the digest.
// Errors name the blob: "blob sha256:X is truncated (N of M bytes)",
// "... is too long ...", "... is corrupt: content hashes to sha256:Y".
Result<void> verify_blob_bytes(const Descriptor& descriptor, std::span<const uint8_t> bytes);

// A child name as the command line may give it, "42" or "000042", as the
// six digits a bundle uses.
Result<std::string> normalize_child_name(std::string_view name);

} // namespace spore::bundle
