// Fuzzes the manifest parser, which reads spores that may come from any
// peer. Whatever parses must serialize to text that parses back to the same
// manifest and serializes to the same bytes.

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
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
    return 0;
}
