#pragma once

// Pushing a local bundle to a remote store (docs/bundle-format.md,
// "Pushing"): every blob the bundle's spores use, then each spore's OCI
// manifest, then the index, and last publish_index, so a reader that finds
// the index finds everything it leads to. Blobs the remote already holds
// are not sent again. Every blob is verified before it leaves this host.

#include <cstdint>
#include <functional>
#include <string>

#include "common/error.h"
#include "remote/remote.h"

namespace spore::bundle {

struct PushProgress {
    uint64_t blobs_done = 0;
    uint64_t blobs_total = 0;
    uint64_t bytes_done = 0;
    uint64_t bytes_total = 0;
};

struct PushOptions {
    // Blobs transferred at once.
    unsigned jobs = 4;
    // Called after each blob, from the pushing threads one at a time.
    std::function<void(const PushProgress&)> progress;
};

struct PushResult {
    std::string bundle_digest;
    uint64_t spores = 0; // parent and children
    uint64_t blobs_total = 0; // distinct blobs and manifests, the index included
    uint64_t blobs_uploaded = 0;
    uint64_t blobs_present = 0; // already on the remote
    uint64_t bytes_uploaded = 0;
};

Result<PushResult> push_bundle(
    const std::string& bundle_path, remote::Remote& remote, const PushOptions& options);

} // namespace spore::bundle
