#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "common/error.h"

// The parameters of a guest generation (docs/generation-device.md): what the
// host tells a resumed or forked guest about its new instance. The guest
// agent reads them from the generation device's parameter page and from the
// exec protocol's params.generation; both go through this code.
namespace spore::exec {

// Largest parameter document, the size of the device's parameter page.
inline constexpr size_t kMaxGenerationDocument = 4096;

// Longest hostname, the kernel's limit (__NEW_UTS_LEN).
inline constexpr size_t kMaxHostnameLength = 64;

// Hex digit counts of the fixed-width string fields.
inline constexpr size_t kGenerationIdDigits = 32; // batch_id (unless empty) and vm_id
inline constexpr size_t kMacSeedDigits = 12;
inline constexpr size_t kEntropyDigits = 64;

// Bytes of entropy the entropy field encodes.
inline constexpr size_t kEntropySize = kEntropyDigits / 2;

// One generation's parameters. Field names are those of the JSON document.
// validate_generation_parameters() states the bounds; a default-constructed
// value does not satisfy them.
struct GenerationParameters {
    uint64_t generation = 0; // at least 1; cold boot presents 1
    uint64_t parent_generation = 0; // 0 for none
    uint32_t fork_index = 0; // below fork_count; 0 outside a fork
    uint32_t fork_count = 1; // at least 1; 1 outside a fork
    std::string batch_id; // kGenerationIdDigits lower-case hex digits, or empty outside a fork
    std::string vm_id; // kGenerationIdDigits lower-case hex digits
    std::string hostname; // a hostname of at most kMaxHostnameLength bytes
    std::string mac_seed; // kMacSeedDigits lower-case hex digits
    std::string entropy; // kEntropyDigits lower-case hex digits, fresh at every resume
    int64_t time_ns = 0; // host wall clock at resume, nanoseconds since the unix epoch, >= 0

    bool operator==(const GenerationParameters&) const = default;
};

// Whether text is a hostname: dot-separated labels of 1 to 63 letters,
// digits and hyphens, none starting or ending with a hyphen, at most
// kMaxHostnameLength bytes in all.
bool is_hostname(std::string_view text);

// Checks every bound of GenerationParameters. Messages start with what.
Result<void> validate_generation_parameters(
    const GenerationParameters& parameters, std::string_view what = "generation parameters");

// Parses a parameter document as the device presents it: one JSON object
// of at most kMaxGenerationDocument bytes with exactly the fields of
// GenerationParameters, each of its type and within its bounds. Duplicate
// and unknown fields are refused.
Result<GenerationParameters> parse_generation_parameters(std::span<const uint8_t> document);
Result<GenerationParameters> parse_generation_parameters(std::string_view document);

// The parameters as a compact JSON object, fields in the order of the
// specification's table; parse_generation_parameters() reads it back to the
// same value.
std::string serialize_generation_parameters(const GenerationParameters& parameters);

// The entropy field as bytes; parameters must have passed
// validate_generation_parameters().
std::array<uint8_t, kEntropySize> generation_entropy(const GenerationParameters& parameters);

} // namespace spore::exec
