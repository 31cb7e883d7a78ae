#pragma once

// The JSON documents of a bundle (docs/bundle-format.md): the OCI image
// layout marker, the top-level image index and the artifact manifest of
// each spore. Parsing is strict: only the fields and media types a
// version-1 writer produces are accepted, every key appears once and
// nesting is bounded. Serializing is deterministic and compact, so the
// same spores always pack to the same bytes and the same bundle digest.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"

namespace spore::bundle {

// Largest index.json or OCI manifest accepted, checked before parsing; the
// limit registries commonly apply to manifests.
inline constexpr uint64_t kMaxIndexSize = 4 << 20;
inline constexpr uint64_t kMaxOciManifestSize = 4 << 20;
// Largest oci-layout file accepted.
inline constexpr uint64_t kMaxLayoutFileSize = 4 << 10;
// Most annotations on one descriptor, manifest or index.
inline constexpr size_t kMaxAnnotations = 64;
// Longest annotation key or value.
inline constexpr size_t kMaxAnnotationLength = 1024;

inline constexpr std::string_view kLayoutVersion = "1.0.0";
inline constexpr std::string_view kIndexMediaType = "application/vnd.oci.image.index.v1+json";
inline constexpr std::string_view kManifestMediaType = "application/vnd.oci.image.manifest.v1+json";
inline constexpr std::string_view kSporeArtifactType = "application/vnd.sporevm.spore.v1";
inline constexpr std::string_view kSporeManifestMediaType
    = "application/vnd.sporevm.spore.manifest.v1+json";
inline constexpr std::string_view kChunkMediaType = "application/vnd.sporevm.chunk.v1";

// The OCI empty descriptor: the two bytes "{}", used as every spore's config.
inline constexpr std::string_view kEmptyMediaType = "application/vnd.oci.empty.v1+json";
inline constexpr std::string_view kEmptyContent = "{}";
inline constexpr std::string_view kEmptyDigest
    = "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a";

// Annotation keys, all under org.sporevm.
inline constexpr std::string_view kBundleVersionAnnotation = "org.sporevm.bundle.version";
inline constexpr std::string_view kRoleAnnotation = "org.sporevm.role";
inline constexpr std::string_view kChildAnnotation = "org.sporevm.child";
inline constexpr std::string_view kBundleVersion = "1";
inline constexpr std::string_view kParentRole = "parent";
inline constexpr std::string_view kChildRole = "child";

using Annotations = std::map<std::string, std::string>;

// An OCI content descriptor, limited to the fields bundles use.
struct Descriptor {
    std::string media_type;
    std::string digest;
    uint64_t size = 0;
    std::optional<std::string> artifact_type;
    Annotations annotations;

    bool operator==(const Descriptor&) const = default;
};

// The top-level image index: one manifest descriptor per spore. The parse
// has checked that exactly one is the parent and that child names are six
// decimal digits and unique.
struct ImageIndex {
    std::vector<Descriptor> manifests;

    bool operator==(const ImageIndex&) const = default;
};

// One spore as an OCI artifact manifest: the empty config, then the spore
// manifest layer, then one layer per distinct stored chunk.
struct ArtifactManifest {
    Descriptor config;
    std::vector<Descriptor> layers;

    bool operator==(const ArtifactManifest&) const = default;
};

// Checks the oci-layout file. Errors start with "oci-layout: ".
Result<void> parse_layout_file(std::string_view json);
// The oci-layout file a writer emits.
std::string serialize_layout_file();

// Parses and validates index.json. Errors start with "index.json: " and
// name the offending field by its path.
Result<ImageIndex> parse_index(std::string_view json);
std::string serialize_index(const ImageIndex& index);

// Parses and validates a spore's OCI manifest. Errors start with
// "manifest: " and name the offending field by its path; callers add the
// blob digest.
Result<ArtifactManifest> parse_artifact_manifest(std::string_view json);
std::string serialize_artifact_manifest(const ArtifactManifest& manifest);

// The descriptor of the index entry with this role annotation value and,
// for a child, this child name; nullptr if the bundle has none.
const Descriptor* find_spore(const ImageIndex& index, std::optional<std::string_view> child);

// Whether name is a child name: exactly six decimal digits.
bool is_child_name(std::string_view name);

} // namespace spore::bundle
