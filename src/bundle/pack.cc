#include "bundle/pack.h"

#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <optional>
#include <unordered_set>
#include <vector>

#include "bundle/oci_layout.h"
#include "spore/fork.h"
#include "spore/manifest_json.h"
#include "spore/spore_directory.h"

namespace spore::bundle {
namespace {

std::span<const uint8_t> as_bytes(std::string_view text)
{
    return {reinterpret_cast<const uint8_t*>(text.data()), text.size()};
}

// The children of a batch: its subdirectories named by six digits, in name
// order. The batch's shared chunks/ and anything else are not children.
Result<std::vector<std::string>> list_children(const std::string& batch)
{
    struct stat status;
    if (::stat(batch.c_str(), &status) < 0)
        return Error::from_errno(batch);
    if (!S_ISDIR(status.st_mode))
        return Error::invalid(batch + ": not a fork batch (not a directory)");

    std::vector<std::string> names;
    std::error_code error;
    for (const auto& entry : std::filesystem::directory_iterator(batch, error)) {
        std::string name = entry.path().filename().string();
        if (is_child_name(name) && entry.is_directory(error))
            names.push_back(std::move(name));
    }
    if (error)
        return Error::from_errno(batch, error.value());
    if (names.empty())
        return Error::invalid(batch + ": no children (no subdirectories named by six digits)");
    if (names.size() > kMaxForkChildren) {
        return Error::invalid(batch + ": " + std::to_string(names.size())
            + " children, more than the limit of " + std::to_string(kMaxForkChildren));
    }
    std::sort(names.begin(), names.end());
    return names;
}

// Writes one spore's blobs and its OCI manifest; returns the manifest's
// index entry, without annotations.
Result<Descriptor> pack_spore(
    BundleWriter& writer, SporeReader& spore, std::vector<uint8_t>& buffer)
{
    const Manifest& manifest = spore.manifest();
    // The canonical text, not the file's bytes: the blob is then a pure
    // function of the manifest, and unpacking reproduces it exactly.
    std::string text = serialize_manifest(manifest);

    ArtifactManifest artifact;
    artifact.config = TRY(writer.put_blob(as_bytes(kEmptyContent), kEmptyMediaType));
    artifact.layers.push_back(TRY(writer.put_blob(as_bytes(text), kSporeManifestMediaType)));
    std::unordered_set<std::string_view> seen;
    for (const MemoryChunk& chunk : manifest.memory.chunks) {
        if (!chunk.digest || !seen.insert(*chunk.digest).second)
            continue;
        artifact.layers.push_back(TRY(
            writer.add_chunk(spore.chunks(), *chunk.digest, manifest.memory.chunk_size, buffer)));
    }

    std::string oci = serialize_artifact_manifest(artifact);
    if (oci.size() > kMaxOciManifestSize) {
        return Error::not_supported(spore.path() + ": its OCI manifest would be "
            + std::to_string(oci.size()) + " bytes, over the limit of "
            + std::to_string(kMaxOciManifestSize) + " (too many stored chunks)");
    }
    Descriptor entry = TRY(writer.put_blob(as_bytes(oci), kManifestMediaType));
    entry.artifact_type = std::string(kSporeArtifactType);
    return entry;
}

// A batch packs with its parent only if it is that parent's fork: each
// child differs from the parent in identity alone (so it shares the
// parent's chunks), sits at the name of its fork index, and belongs to the
// same batch as the first child.
Result<void> check_child(const Manifest& parent, const Manifest& child, const Identity& first,
    const std::string& name, const std::string& path)
{
    Manifest same = child;
    same.identity = parent.identity;
    if (!(same == parent))
        return Error::invalid(
            path + ": not a fork of the parent (it differs in more than its identity)");
    const Identity& identity = child.identity;
    if (identity.generation != parent.identity.generation + 1)
        return Error::invalid(path + ": not a child of this parent's generation");
    if (fork_child_name(identity.fork_index) != name) {
        return Error::invalid(
            path + ": its fork index is " + std::to_string(identity.fork_index) + ", not its name");
    }
    if (identity.batch_id != first.batch_id || identity.fork_count != first.fork_count)
        return Error::invalid(path + ": from another fork batch than the first child");
    return {};
}

std::string join_path(const std::string& directory, const std::string& name)
{
    return directory + (directory.ends_with('/') ? "" : "/") + name;
}

} // namespace

Result<PackResult> pack_bundle(
    const std::string& parent_path, const std::string& children_path, const std::string& out_path)
{
    SporeReader parent = TRY(SporeReader::open(parent_path));
    std::vector<std::string> children;
    if (!children_path.empty())
        children = TRY(list_children(children_path));

    BundleWriter writer = TRY(BundleWriter::begin(out_path));
    std::vector<uint8_t> buffer;
    ImageIndex index;
    Descriptor entry = TRY(pack_spore(writer, parent, buffer));
    entry.annotations = {{std::string(kRoleAnnotation), std::string(kParentRole)}};
    index.manifests.push_back(std::move(entry));

    std::unordered_set<std::string> chunks;
    auto count_chunks = [&chunks](const Manifest& manifest) {
        for (const MemoryChunk& chunk : manifest.memory.chunks) {
            if (chunk.digest)
                chunks.insert(*chunk.digest);
        }
    };
    count_chunks(parent.manifest());

    // One child at a time, so memory stays that of one manifest however
    // large the batch.
    std::optional<Identity> first;
    for (const std::string& name : children) {
        std::string child_path = join_path(children_path, name);
        SporeReader child = TRY(SporeReader::open(child_path));
        if (!first)
            first = child.manifest().identity;
        TRY(check_child(parent.manifest(), child.manifest(), *first, name, child_path));
        Descriptor child_entry = TRY(pack_spore(writer, child, buffer));
        child_entry.annotations = {{std::string(kRoleAnnotation), std::string(kChildRole)},
            {std::string(kChildAnnotation), name}};
        index.manifests.push_back(std::move(child_entry));
        count_chunks(child.manifest());
    }

    if (first && first->fork_count != children.size()) {
        return Error::invalid(children_path + ": holds " + std::to_string(children.size())
            + " children of a batch of " + std::to_string(first->fork_count)
            + " (a batch packs whole)");
    }

    PackResult result;
    result.digest = TRY(writer.commit(index));
    result.children = children.size();
    result.chunks = chunks.size();
    return result;
}

} // namespace spore::bundle
