#include "bundle/unpack.h"

#include <vector>

#include "bundle/oci_layout.h"
#include "bundle/resolve.h"
#include "spore/digest.h"
#include "spore/spore_directory.h"

namespace spore::bundle {

Result<UnpackResult> unpack_bundle(
    const std::string& bundle_path, const std::string& out_path, const UnpackOptions& options)
{
    if (options.child && !is_child_name(*options.child))
        return Error::invalid("child name \"" + *options.child + "\" is not six digits");
    if (options.bundle_digest && !is_valid_digest(*options.bundle_digest))
        return Error::invalid(
            "bundle digest \"" + *options.bundle_digest + "\" is not a sha256 digest");

    BundleReader bundle = TRY(BundleReader::open(bundle_path));
    if (options.bundle_digest && bundle.digest() != *options.bundle_digest) {
        return Error::invalid(bundle_path + ": bundle digest is " + bundle.digest() + ", expected "
            + *options.bundle_digest);
    }
    if (!find_spore(bundle.index(), options.child)) {
        std::string name = options.child ? "child " + *options.child : std::string("parent");
        return Error::not_found(bundle_path + ": no " + name + " in this bundle");
    }

    // Refuse an existing destination before reading any blob.
    SporeWriter writer = TRY(SporeWriter::begin(out_path));
    auto fetch = [&bundle](const Descriptor& descriptor, remote::ContentKind, uint64_t limit) {
        return bundle.read_blob(descriptor, limit);
    };
    ResolvedSpore spore = TRY(resolve_spore(bundle.index(), options.child, fetch, bundle_path));

    // Verified, then linked (or copied where linking fails): the spore's
    // chunks are the bundle's bytes, checked once more when restored.
    std::vector<uint8_t> buffer;
    for (const Descriptor& layer : spore.chunk_layers()) {
        TRY(bundle.verify_blob(layer, buffer));
        TRY_CONTEXT(writer.chunks().link_from(bundle.blobs(), layer.digest), out_path);
    }
    TRY(writer.commit(spore.manifest));
    return UnpackResult{bundle.digest(), spore.entry.digest, spore.chunk_layers().size()};
}

} // namespace spore::bundle
