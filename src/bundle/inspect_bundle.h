#pragma once

#include <string>

#include "common/error.h"

namespace spore::bundle {

// Whether path is a bundle directory (it holds an oci-layout file), so
// `spore inspect` can tell a bundle from a spore.
bool looks_like_bundle(const std::string& path);

// `spore inspect BUNDLE`: the bundle digest, its spores, the parent's
// machine, and the distinct blobs it holds, for people or (json) for
// machines. The index and every OCI manifest are verified and parsed, the
// parent's spore manifest too; chunk bytes are not read.
Result<std::string> inspect_bundle(const std::string& path, bool json);

} // namespace spore::bundle
