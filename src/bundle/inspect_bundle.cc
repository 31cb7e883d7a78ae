#include "bundle/inspect_bundle.h"

#include <sys/stat.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>

#include "bundle/oci_layout.h"
#include "bundle/resolve.h"

namespace spore::bundle {
namespace {

struct BundleSummary {
    std::string digest;
    ResolvedSpore parent;
    std::vector<std::string> children;
    std::map<std::string, uint64_t> blobs; // digest to size, the index's own blob included
};

std::string_view as_text(std::span<const uint8_t> bytes)
{
    return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
}

Result<BundleSummary> summarize(const std::string& path)
{
    BundleReader bundle = TRY(BundleReader::open(path));
    BundleSummary summary;
    summary.digest = bundle.digest();
    auto fetch = [&bundle](const Descriptor& descriptor, remote::ContentKind, uint64_t limit) {
        return bundle.read_blob(descriptor, limit);
    };
    summary.parent = TRY(resolve_spore(bundle.index(), std::nullopt, fetch, path));

    for (const Descriptor& entry : bundle.index().manifests) {
        auto child = entry.annotations.find(std::string(kChildAnnotation));
        if (child != entry.annotations.end())
            summary.children.push_back(child->second);
        auto bytes = TRY(bundle.read_blob(entry, kMaxOciManifestSize));
        ArtifactManifest artifact = TRY_CONTEXT(
            parse_artifact_manifest(as_text(bytes)), path + ": manifest " + entry.digest);
        summary.blobs[entry.digest] = entry.size;
        summary.blobs[artifact.config.digest] = artifact.config.size;
        for (const Descriptor& layer : artifact.layers)
            summary.blobs[layer.digest] = layer.size;
    }
    struct stat status;
    std::string index_path = path + "/" + std::string(kIndexFileName);
    if (::stat(index_path.c_str(), &status) == 0)
        summary.blobs[summary.digest] = static_cast<uint64_t>(status.st_size);
    std::sort(summary.children.begin(), summary.children.end());
    return summary;
}

uint64_t total_bytes(const BundleSummary& summary)
{
    uint64_t total = 0;
    for (const auto& [digest, size] : summary.blobs)
        total += size;
    return total;
}

std::string children_text(const std::vector<std::string>& children)
{
    if (children.empty())
        return "the parent alone";
    return "the parent and " + std::to_string(children.size()) + " children (" + children.front()
        + " to " + children.back() + ")";
}

std::string human_summary(const std::string& path, const BundleSummary& summary)
{
    const Manifest& manifest = summary.parent.manifest;
    char text[1024];
    std::snprintf(text, sizeof text,
        "bundle %s\n"
        "  digest        %s\n"
        "  spores        %s\n"
        "  parent        %s, %u vCPU, %llu MiB RAM, %zu stored chunks of %llu KiB, generation "
        "%llu\n"
        "  blobs         %zu distinct, %.1f MiB\n",
        path.c_str(), summary.digest.c_str(), children_text(summary.children).c_str(),
        summary.parent.entry.digest.c_str(), manifest.platform.vcpu_count,
        static_cast<unsigned long long>(manifest.platform.ram_size >> 20),
        summary.parent.chunk_layers().size(),
        static_cast<unsigned long long>(manifest.memory.chunk_size >> 10),
        static_cast<unsigned long long>(manifest.identity.generation), summary.blobs.size(),
        static_cast<double>(total_bytes(summary)) / (1 << 20));
    return text;
}

std::string json_summary(const std::string& path, const BundleSummary& summary)
{
    const Manifest& manifest = summary.parent.manifest;
    nlohmann::ordered_json parent = {{"manifest_digest", summary.parent.entry.digest},
        {"vcpu_count", manifest.platform.vcpu_count}, {"ram_size", manifest.platform.ram_size},
        {"chunk_size", manifest.memory.chunk_size},
        {"stored_chunks", summary.parent.chunk_layers().size()},
        {"generation", manifest.identity.generation}};
    nlohmann::ordered_json result = {{"path", path}, {"kind", "bundle"}, {"digest", summary.digest},
        {"parent", parent}, {"children", summary.children}, {"blobs", summary.blobs.size()},
        {"blob_bytes", total_bytes(summary)}};
    return result.dump(2) + "\n";
}

} // namespace

bool looks_like_bundle(const std::string& path)
{
    struct stat status;
    std::string layout = path + "/" + std::string(kLayoutFileName);
    return ::lstat(layout.c_str(), &status) == 0;
}

Result<std::string> inspect_bundle(const std::string& path, bool json)
{
    BundleSummary summary = TRY(summarize(path));
    return json ? json_summary(path, summary) : human_summary(path, summary);
}

} // namespace spore::bundle
