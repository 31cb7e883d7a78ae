// Fuzzes the parsers of a bundle's JSON documents, which arrive from any
// registry, bucket or web server. The same bytes are tried as index.json,
// as a spore's OCI manifest and as oci-layout. Whatever parses must
// serialize to text that parses back to the same value and serializes to
// the same bytes; a parsed index must also keep the promises its type
// makes: exactly one parent, and every child findable by its name.

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "bundle/bundle_json.h"

namespace {

using namespace spore::bundle;

void check(bool condition, const char* what)
{
    if (!condition) {
        std::fprintf(stderr, "bundle_json_fuzz: %s\n", what);
        std::abort();
    }
}

void check_index(std::string_view text)
{
    auto index = parse_index(text);
    if (!index)
        return;

    std::string serialized = serialize_index(*index);
    auto reparsed = parse_index(serialized);
    check(reparsed.has_value(), "serialized index does not parse");
    check(*reparsed == *index, "index round trip changed the index");
    check(serialize_index(*reparsed) == serialized, "index serialization is not stable");

    check(find_spore(*index, std::nullopt) != nullptr, "parsed index has no parent");
    for (const Descriptor& entry : index->manifests) {
        auto name = entry.annotations.find(std::string(kChildAnnotation));
        if (name == entry.annotations.end())
            continue;
        check(is_child_name(name->second), "parsed index has a malformed child name");
        check(find_spore(*index, name->second) == &entry, "child is not found by its name");
    }
}

void check_artifact_manifest(std::string_view text)
{
    auto manifest = parse_artifact_manifest(text);
    if (!manifest)
        return;

    std::string serialized = serialize_artifact_manifest(*manifest);
    auto reparsed = parse_artifact_manifest(serialized);
    check(reparsed.has_value(), "serialized manifest does not parse");
    check(*reparsed == *manifest, "manifest round trip changed the manifest");
    check(serialize_artifact_manifest(*reparsed) == serialized,
        "manifest serialization is not stable");
    check(!manifest->layers.empty(), "parsed manifest has no spore manifest layer");
}

void check_layout_file(std::string_view text)
{
    if (!parse_layout_file(text))
        return;
    check(parse_layout_file(serialize_layout_file()).has_value(),
        "serialized oci-layout does not parse");
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    std::string_view text(reinterpret_cast<const char*>(data), size);
    check_index(text);
    check_artifact_manifest(text);
    check_layout_file(text);
    return 0;
}
