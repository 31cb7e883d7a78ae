#pragma once

// Packing spores into a bundle (docs/bundle-format.md): a parent and,
// optionally, the children of a fork batch become one OCI image layout in
// which every distinct chunk is stored once.

#include <cstddef>
#include <string>

#include "common/error.h"

namespace spore::bundle {

struct PackResult {
    std::string digest; // "sha256:<hex>" of index.json
    size_t children = 0;
    size_t chunks = 0; // distinct chunk blobs
};

// Packs the spore at parent_path and, unless children_path is empty, every
// child of the batch there (subdirectories named by six digits) into a new
// bundle at out_path, which must not exist. Every chunk is verified before
// it enters the bundle. out_path appears atomically and durably, or not at
// all.
Result<PackResult> pack_bundle(
    const std::string& parent_path, const std::string& children_path, const std::string& out_path);

} // namespace spore::bundle
