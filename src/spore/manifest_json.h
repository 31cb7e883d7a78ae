#pragma once

// The manifest's strict JSON form (docs/spore-format.md). Parsing refuses
// anything a version-1 writer would not produce: unknown fields at any
// level, wrong types, malformed values, inconsistent counts. Serializing is
// deterministic, so a manifest round-trips byte for byte.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/error.h"
#include "spore/manifest.h"

namespace spore {

// Largest manifest.json accepted; checked before any parsing.
inline constexpr uint64_t kMaxManifestSize = 16 << 20;
// Longest name (register, device slot, session id, architecture, backend).
inline constexpr size_t kMaxNameLength = 128;
// Longest created_at timestamp.
inline constexpr size_t kMaxCreatedAtLength = 64;
// Most vCPUs a spore can describe.
inline constexpr uint32_t kMaxVcpus = 8;
// Most entries in one map of named values.
inline constexpr size_t kMaxNamedValues = 1024;
// Most virtio devices.
inline constexpr size_t kMaxDevices = 64;
// Most running sessions.
inline constexpr size_t kMaxRunningSessions = 256;
// Smallest and largest memory chunk sizes; chunk sizes are powers of two.
inline constexpr uint64_t kMinChunkSize = 64 << 10;
inline constexpr uint64_t kMaxChunkSize = 64 << 20;
// Most children one fork batch can describe (identity.fork_count).
inline constexpr uint32_t kMaxForkCount = 1'000'000;
// Hex digits of identity.batch_id, identity.vm_id and identity.mac_seed.
inline constexpr size_t kBatchIdDigits = 32;
inline constexpr size_t kVmIdDigits = 32;
inline constexpr size_t kMacSeedDigits = 12;
// Longest identity.hostname: one DNS label.
inline constexpr size_t kMaxHostnameLength = 63;
// Deepest JSON nesting a manifest ever needs is 4 (gic.redistributors[n].name).
inline constexpr size_t kMaxJsonDepth = 8;

// Parses and fully validates a manifest. Errors are one line, start with
// "manifest: " and name the offending field by its path.
Result<Manifest> parse_manifest(std::string_view json);

// Checks every value and count rule of the format on an in-memory manifest,
// so that a writer never publishes what a reader would refuse.
Result<void> validate_manifest(const Manifest& manifest);

// Checks the identity rules alone; validate_manifest includes them. Errors
// name the field as identity.<name>.
Result<void> validate_identity(const Identity& identity);

// The canonical text: two-space indentation, fields in the documented
// order, named values sorted by name, a final newline.
std::string serialize_manifest(const Manifest& manifest);

// Serializes manifests that differ only in their identity, as a fork's
// children do. Everything but the identity is serialized once, so each
// further manifest costs only its identity's text, however large the chunk
// list. The result is byte for byte what serialize_manifest gives.
class ManifestSerializer {
public:
    // Serializes manifest except its identity, which is ignored.
    explicit ManifestSerializer(const Manifest& manifest);

    // The canonical text of the manifest with this identity.
    std::string serialize(const Identity& identity) const;

    // The text before the identity object; prefix() + identity_text(x) is
    // serialize(x), for writers that would rather not copy the prefix.
    const std::string& prefix() const { return m_prefix; }

    // The identity object and the end of the document.
    static std::string identity_text(const Identity& identity);

private:
    std::string m_prefix;
};

// Identifies a RAM image by content: "sha256:" and the SHA-256 of the
// chunk size in decimal and each chunk's digest or "zero", one per line.
std::string memory_digest(const MemoryIndex& index);

} // namespace spore
