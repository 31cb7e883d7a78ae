#pragma once

// Pulling one spore of a bundle from a remote store into a spore directory
// (docs/bundle-format.md, "Pulling"). The pull is pinned to the bundle
// digest: the index is fetched by that digest and everything else by the
// digests the index leads to, and every byte is verified before it is
// used, whether it came from the remote or the blob cache. The spore
// appears atomically and durably, or not at all; chunks verified before an
// interruption stay in the cache for the next attempt.

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "bundle/blob_cache.h"
#include "common/error.h"
#include "remote/remote.h"

namespace spore::bundle {

struct PullProgress {
    uint64_t chunks_done = 0;
    uint64_t chunks_total = 0;
    uint64_t bytes_done = 0;
    uint64_t bytes_total = 0;
};

struct PullOptions {
    // "sha256:<hex>" of the bundle's index; required.
    std::string bundle_digest;
    // The child to pull, six digits; the parent when absent.
    std::optional<std::string> child;
    // Where verified blobs are kept between pulls; none when null.
    const BlobCache* cache = nullptr;
    // Chunks transferred at once.
    unsigned jobs = 4;
    // Called after each chunk, from the pulling threads one at a time.
    std::function<void(const PullProgress&)> progress;
};

struct PullResult {
    std::string bundle_digest;
    std::string manifest_digest; // the spore's OCI manifest
    uint64_t chunks_total = 0; // distinct stored chunks of the spore
    uint64_t chunks_fetched = 0;
    uint64_t chunks_cached = 0; // taken from the blob cache
    uint64_t bytes_fetched = 0; // everything transferred: index, manifests, chunks
    uint64_t bytes_cached = 0; // everything the cache supplied instead
};

// Pulls the chosen spore of the bundle at remote into out_path, which must
// not exist.
Result<PullResult> pull_spore(
    remote::Remote& remote, const std::string& out_path, const PullOptions& options);

} // namespace spore::bundle
