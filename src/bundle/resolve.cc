#include "bundle/resolve.h"

#include <algorithm>
#include <unordered_set>

#include "spore/digest.h"
#include "spore/fork.h"
#include "spore/manifest_json.h"

namespace spore::bundle {
namespace {

std::string_view as_text(std::span<const uint8_t> bytes)
{
    return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
}

std::string describe(const std::optional<std::string>& child)
{
    return child ? "child " + *child : std::string("parent");
}

// The chunk layers must be exactly the distinct stored chunks of the spore
// manifest, in order of first use, each chunk_size bytes: nothing the
// spore does not use is fetched, and nothing it uses is missing.
Result<void> check_chunk_layers(const MemoryIndex& memory, const std::vector<Descriptor>& layers)
{
    std::vector<std::string_view> stored;
    std::unordered_set<std::string_view> seen;
    for (const MemoryChunk& chunk : memory.chunks) {
        if (chunk.digest && seen.insert(*chunk.digest).second)
            stored.push_back(*chunk.digest);
    }
    if (layers.size() - 1 != stored.size()) {
        return Error::invalid(std::to_string(layers.size() - 1) + " chunk layers for the "
            + std::to_string(stored.size()) + " stored chunks of the spore manifest");
    }
    for (size_t position = 0; position < stored.size(); position++) {
        const Descriptor& layer = layers[position + 1];
        if (layer.digest != stored[position]) {
            return Error::invalid("layers[" + std::to_string(position + 1) + "] is " + layer.digest
                + " where the spore manifest's stored chunk " + std::to_string(position) + " is "
                + std::string(stored[position]));
        }
        if (layer.size != memory.chunk_size) {
            return Error::invalid("layers[" + std::to_string(position + 1) + "] is "
                + std::to_string(layer.size) + " bytes, not the chunk size "
                + std::to_string(memory.chunk_size));
        }
    }
    return {};
}

} // namespace

Result<void> verify_blob_bytes(const Descriptor& descriptor, std::span<const uint8_t> bytes)
{
    const std::string& digest = descriptor.digest;
    if (bytes.size() < descriptor.size) {
        return Error::invalid("blob " + digest + " is truncated (" + std::to_string(bytes.size())
            + " of " + std::to_string(descriptor.size) + " bytes)");
    }
    if (bytes.size() > descriptor.size) {
        return Error::invalid("blob " + digest + " is too long (" + std::to_string(bytes.size())
            + " bytes, expected " + std::to_string(descriptor.size) + ")");
    }
    std::string actual = digest_of(bytes);
    if (actual != digest)
        return Error::invalid("blob " + digest + " is corrupt: content hashes to " + actual);
    return {};
}

Result<ResolvedSpore> resolve_spore(const ImageIndex& index,
    const std::optional<std::string>& child, const VerifiedFetch& fetch, const std::string& what)
{
    const Descriptor* entry = find_spore(index, child);
    if (!entry)
        return Error::not_found(what + ": no " + describe(child) + " in this bundle");

    ResolvedSpore spore;
    spore.entry = *entry;
    auto artifact_bytes = TRY(fetch(*entry, remote::ContentKind::Manifest, kMaxOciManifestSize));
    std::string artifact_what = what + ": manifest " + entry->digest;
    spore.artifact = TRY_CONTEXT(parse_artifact_manifest(as_text(artifact_bytes)), artifact_what);

    const Descriptor& manifest_layer = spore.artifact.layers.front();
    auto manifest_bytes = TRY(fetch(manifest_layer, remote::ContentKind::Blob, kMaxManifestSize));
    std::string manifest_what = what + ": blob " + manifest_layer.digest;
    spore.manifest = TRY_CONTEXT(parse_manifest(as_text(manifest_bytes)), manifest_what);
    // Only the canonical text is accepted, so the manifest.json written out
    // is the very blob the bundle names.
    if (serialize_manifest(spore.manifest) != as_text(manifest_bytes))
        return Error::invalid(manifest_what + ": spore manifest is not in canonical form");
    TRY_CONTEXT(check_chunk_layers(spore.manifest.memory, spore.artifact.layers), artifact_what);
    // The index names a child by its fork index; a manifest of another
    // child (or of the parent) under that name is a mislabelled bundle.
    if (child && fork_child_name(spore.manifest.identity.fork_index) != *child) {
        return Error::invalid(manifest_what + ": the spore manifest is of fork index "
            + std::to_string(spore.manifest.identity.fork_index) + ", not child " + *child);
    }
    return spore;
}

Result<std::string> normalize_child_name(std::string_view name)
{
    bool digits = !name.empty() && name.size() <= 6
        && std::all_of(name.begin(), name.end(), [](char c) { return c >= '0' && c <= '9'; });
    if (!digits)
        return Error::invalid(
            "child \"" + std::string(name.substr(0, 32)) + "\": not 1 to 6 decimal digits");
    return std::string(6 - name.size(), '0') + std::string(name);
}

} // namespace spore::bundle
