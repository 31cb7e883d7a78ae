#pragma once

// A place that holds bundle content by digest (docs/bundle-format.md,
// "Remote stores"): an S3 bucket, a static HTTP(S) server, an OCI
// distribution registry or a local directory. A Remote moves bytes and
// nothing else: it never verifies them, and callers check every byte they
// fetch against its digest before use.

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "common/error.h"

namespace spore::remote {

// Registries keep manifests (the image index, each spore's OCI manifest)
// apart from other blobs; layout stores keep both under blobs/sha256/.
enum class ContentKind { Manifest, Blob };

// One piece of content a Remote is asked for.
struct ContentRef {
    ContentKind kind = ContentKind::Blob;
    std::string digest; // "sha256:<hex>"
    std::string media_type; // sent by registries as Accept and Content-Type
};

// Thread safety: every member may be called from several threads at once;
// implementations keep one connection per concurrent call.
class Remote {
public:
    virtual ~Remote() = default;

    // The remote as the user wrote it, without credentials, for messages.
    virtual const std::string& describe() const = 0;

    // Fetches content into out (resized to what arrived). A transfer that
    // would exceed max_size bytes is cut off and refused, so a hostile peer
    // cannot exhaust memory. NotFound when the remote does not hold it.
    virtual Result<void> fetch(
        const ContentRef& content, uint64_t max_size, std::vector<uint8_t>& out)
        = 0;

    // Whether the remote already holds content of this size, to skip an upload.
    virtual Result<bool> contains(const ContentRef& content, uint64_t size) = 0;

    // Uploads content whose digest the caller has computed.
    virtual Result<void> store(const ContentRef& content, std::span<const uint8_t> bytes) = 0;

    // Publishes a bundle's top-level index after everything it references
    // is stored: a layout store writes index.json and oci-layout beside the
    // blobs; a registry tags the index. The index itself is stored first,
    // by digest, like any manifest.
    virtual Result<void> publish_index(const ContentRef& index, std::span<const uint8_t> bytes) = 0;
};

} // namespace spore::remote
