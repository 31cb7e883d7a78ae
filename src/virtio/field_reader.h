#pragma once

#include <cstdint>
#include <set>
#include <string>

#include "common/error.h"
#include "spore/manifest.h"

namespace spore {

// Reads the fields of a NamedValues map that came from a spore manifest,
// which is untrusted input. Every field asked for must be present and hold
// a hex value of exactly its width (common/hex_value.h), and finish()
// refuses any field nobody asked for, so that state from another device
// model is refused rather than half restored.
//
// Errors read "<kind> <name>: <cause>", such as
// "transport field queue.1.size: missing".
class FieldReader {
public:
    // kind names the map in errors ("transport field", "device field");
    // values must outlive the reader.
    FieldReader(const NamedValues& values, std::string kind);

    // The 32-bit field name, refused above max.
    Result<uint32_t> u32(const std::string& name, uint32_t max = UINT32_MAX);
    // The 64-bit field name.
    Result<uint64_t> u64(const std::string& name);
    // Refuses the first field, in name order, that no call above asked for.
    Result<void> finish() const;

    // An error about field name that was well-formed but is unacceptable.
    Error error(const std::string& name, const std::string& cause) const;

private:
    Result<std::string> take(const std::string& name);
    Error malformed(const std::string& name, const std::string& text, int bits) const;

    const NamedValues& m_values;
    std::string m_kind;
    std::set<std::string> m_asked;
};

} // namespace spore
