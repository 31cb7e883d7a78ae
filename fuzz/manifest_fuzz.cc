// Fuzzes the manifest parser, which reads spores that may come from any
// peer. Whatever parses must serialize to text that parses back to the same
// manifest and serializes to the same bytes; and splicing another identity
// in, as a fork does for each child, must give the canonical text of the
// manifest with that identity.

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "spore/manifest_json.h"

namespace {

void check(bool condition, const char* what)
{
    if (!condition) {
        std::fprintf(stderr, "manifest_fuzz: %s\n", what);
        std::abort();
    }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    std::string_view text(reinterpret_cast<const char*>(data), size);
    auto manifest = spore::parse_manifest(text);
    if (!manifest)
        return 0;

    std::string serialized = spore::serialize_manifest(*manifest);
    auto reparsed = spore::parse_manifest(serialized);
    check(reparsed.has_value(), "serialized manifest does not parse");
    check(*reparsed == *manifest, "round trip changed the manifest");
    check(spore::serialize_manifest(*reparsed) == serialized, "serialization is not stable");

    // A fixed child identity keeps runs reproducible.
    spore::Manifest child = *manifest;
    child.identity = {manifest->identity.generation + 1, manifest->identity.generation, 6, 7,
        std::string(32, 'b'), std::string(32, 'c'), "spore-cccccccccccc", "0200000000aa"};
    std::string spliced = spore::ManifestSerializer(*manifest).serialize(child.identity);
    check(spliced == spore::serialize_manifest(child), "spliced identity is not canonical");
    auto spliced_parsed = spore::parse_manifest(spliced);
    check(spliced_parsed.has_value() || manifest->identity.generation == UINT64_MAX,
        "manifest with a spliced identity does not parse");
    return 0;
}
