#include "bundle/bundle_json.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <initializer_list>
#include <set>

#include "common/strict_json.h"
#include "spore/digest.h"
#include "spore/manifest_json.h"

namespace spore::bundle {
namespace {

using Json = nlohmann::json;
using OrderedJson = nlohmann::ordered_json;

// Deepest nesting a bundle document needs: index.manifests[n].annotations.
constexpr size_t kMaxDepth = 4;
// Longest piece of untrusted text quoted back in an error message: room
// for a whole digest, so a refused one shows the character that is wrong.
constexpr size_t kMaxQuoted = 80;
// The parent and at most one child per six-digit name.
constexpr size_t kMaxIndexEntries = 1'000'001;

std::string printable(std::string_view text)
{
    return spore::printable(text, kMaxQuoted);
}

// Named so that argument-dependent lookup cannot pick std::quoted for a
// std::string argument.
std::string in_quotes(std::string_view text)
{
    return "\"" + printable(text) + "\"";
}

std::string join(std::string_view path, std::string_view key)
{
    return path.empty() ? std::string(key) : std::string(path) + "." + std::string(key);
}

std::string element(std::string_view path, size_t index)
{
    return std::string(path) + "[" + std::to_string(index) + "]";
}

// One document being parsed; every error names it first.
class Parser {
public:
    explicit Parser(std::string_view document)
        : m_document(document)
    {
    }

    // Paths are built from fixed names, indexes and in_quotes() pieces, so
    // they are printable already; cutting them again would drop the key.
    Error refuse(const std::string& path, const std::string& problem) const
    {
        return Error::invalid(m_document + ": " + path + ": " + problem);
    }
    Error refuse(const std::string& problem) const
    {
        return Error::invalid(m_document + ": " + problem);
    }

    Result<Json> parse(std::string_view text) const;

    // Refuses a non-object, a field in neither list and a missing required one.
    Result<void> expect_fields(const Json& value, const std::string& path,
        std::initializer_list<std::string_view> required,
        std::initializer_list<std::string_view> optional = {}) const
    {
        if (!value.is_object())
            return refuse(path.empty() ? "top level" : path, "expected an object");
        for (const auto& [key, unused] : value.items()) {
            bool known = std::find(required.begin(), required.end(), key) != required.end()
                || std::find(optional.begin(), optional.end(), key) != optional.end();
            if (!known)
                return refuse("unknown field " + printable(join(path, key)));
        }
        for (std::string_view field : required) {
            if (!value.contains(field))
                return refuse("missing field " + join(path, field));
        }
        return {};
    }

    Result<std::string> string_field(
        const Json& object, const std::string& path, const char* key) const
    {
        const Json& value = object.at(key);
        if (!value.is_string())
            return refuse(join(path, key), "expected a string");
        return value.get<std::string>();
    }

    Result<uint64_t> u64_field(const Json& object, const std::string& path, const char* key) const
    {
        const Json& value = object.at(key);
        if (!value.is_number_unsigned())
            return refuse(join(path, key), "expected an unsigned integer");
        return value.get<uint64_t>();
    }

    // A string field that must hold exactly one value, such as a media type.
    Result<void> expect_value(const Json& object, const std::string& path, const char* key,
        std::string_view expected, std::string_view what) const
    {
        std::string value = TRY(string_field(object, path, key));
        if (value != expected) {
            return refuse(join(path, key),
                "unsupported " + std::string(what) + " " + in_quotes(value) + " (expected "
                    + std::string(expected) + ")");
        }
        return {};
    }

    Result<void> expect_schema_version(const Json& object) const
    {
        if (!object.is_object())
            return refuse("top level", "expected an object");
        if (!object.contains("schemaVersion"))
            return refuse("missing field schemaVersion");
        uint64_t version = TRY(u64_field(object, "", "schemaVersion"));
        if (version != 2)
            return refuse("unsupported schemaVersion " + std::to_string(version) + " (expected 2)");
        return {};
    }

    Result<Annotations> annotations(const Json& value, const std::string& path) const;
    Result<Descriptor> descriptor(const Json& value, const std::string& path, bool in_index) const;

private:
    std::string m_document;
};

Result<Json> Parser::parse(std::string_view text) const
{
    return TRY_CONTEXT(parse_strict_json(text, kMaxDepth), m_document);
}

// Foreign annotations are kept, since OCI tools add their own (a copy to a
// tagged layout adds org.opencontainers.image.ref.name); unknown keys in
// our own namespace are refused, as a newer writer may have meant them.
Result<Annotations> Parser::annotations(const Json& value, const std::string& path) const
{
    if (!value.is_object())
        return refuse(path, "expected an object");
    if (value.size() > kMaxAnnotations) {
        return refuse(path,
            std::to_string(value.size()) + " entries, limit is " + std::to_string(kMaxAnnotations));
    }
    Annotations result;
    for (const auto& [key, text] : value.items()) {
        std::string where = path + "[" + in_quotes(key) + "]";
        if (!text.is_string())
            return refuse(where, "expected a string");
        std::string entry = text.get<std::string>();
        if (key.empty() || key.size() > kMaxAnnotationLength || entry.size() > kMaxAnnotationLength)
            return refuse(where, "key or value is empty or longer than 1024 bytes");
        bool ours = key.starts_with("org.sporevm.");
        bool known
            = key == kBundleVersionAnnotation || key == kRoleAnnotation || key == kChildAnnotation;
        if (ours && !known)
            return refuse(where, "unknown annotation");
        result.emplace(key, std::move(entry));
    }
    return result;
}

Result<Descriptor> Parser::descriptor(
    const Json& value, const std::string& path, bool in_index) const
{
    if (in_index)
        TRY(expect_fields(
            value, path, {"mediaType", "digest", "size"}, {"artifactType", "annotations"}));
    else
        TRY(expect_fields(value, path, {"mediaType", "digest", "size"}));
    Descriptor result;
    result.media_type = TRY(string_field(value, path, "mediaType"));
    result.digest = TRY(string_field(value, path, "digest"));
    if (!is_valid_digest(result.digest))
        return refuse(join(path, "digest"), in_quotes(result.digest) + " is not a sha256 digest");
    result.size = TRY(u64_field(value, path, "size"));
    if (value.contains("artifactType"))
        result.artifact_type = TRY(string_field(value, path, "artifactType"));
    if (value.contains("annotations"))
        result.annotations = TRY(annotations(value.at("annotations"), join(path, "annotations")));
    return result;
}

// Index entries: each an artifact manifest of a spore, named by role.
Result<void> check_index_entry(const Parser& parser, const Descriptor& entry,
    const std::string& path, std::set<std::string>& children, bool& has_parent)
{
    if (entry.media_type != kManifestMediaType) {
        return parser.refuse(
            join(path, "mediaType"), "unsupported media type " + in_quotes(entry.media_type));
    }
    if (entry.artifact_type != std::optional<std::string>(kSporeArtifactType)) {
        return parser.refuse(join(path, "artifactType"),
            "unsupported artifact type " + in_quotes(entry.artifact_type.value_or(""))
                + " (expected " + std::string(kSporeArtifactType) + ")");
    }
    if (entry.size > kMaxOciManifestSize) {
        return parser.refuse(join(path, "size"),
            std::to_string(entry.size) + " bytes is over the manifest limit of "
                + std::to_string(kMaxOciManifestSize));
    }

    std::string annotations = join(path, "annotations");
    auto role = entry.annotations.find(std::string(kRoleAnnotation));
    auto child = entry.annotations.find(std::string(kChildAnnotation));
    if (role == entry.annotations.end())
        return parser.refuse("missing annotation " + annotations + "[\"org.sporevm.role\"]");
    if (role->second == kParentRole) {
        if (child != entry.annotations.end())
            return parser.refuse(annotations, "the parent has a child name");
        if (has_parent)
            return parser.refuse(path, "a second parent");
        has_parent = true;
        return {};
    }
    if (role->second != kChildRole)
        return parser.refuse(annotations, "unknown role " + in_quotes(role->second));
    if (child == entry.annotations.end())
        return parser.refuse("missing annotation " + annotations + "[\"org.sporevm.child\"]");
    if (!is_child_name(child->second))
        return parser.refuse(
            annotations, "child name " + in_quotes(child->second) + " is not six digits");
    if (!children.insert(child->second).second)
        return parser.refuse(annotations, "child " + child->second + " appears twice");
    return {};
}

OrderedJson descriptor_to_json(const Descriptor& descriptor)
{
    OrderedJson json;
    json["mediaType"] = descriptor.media_type;
    if (descriptor.artifact_type)
        json["artifactType"] = *descriptor.artifact_type;
    json["digest"] = descriptor.digest;
    json["size"] = descriptor.size;
    if (!descriptor.annotations.empty()) {
        OrderedJson annotations = OrderedJson::object();
        for (const auto& [key, value] : descriptor.annotations)
            annotations[key] = value;
        json["annotations"] = std::move(annotations);
    }
    return json;
}

} // namespace

bool is_child_name(std::string_view name)
{
    return name.size() == 6
        && std::all_of(name.begin(), name.end(), [](char c) { return c >= '0' && c <= '9'; });
}

Result<void> parse_layout_file(std::string_view json)
{
    Parser parser("oci-layout");
    Json value = TRY(parser.parse(json));
    TRY(parser.expect_fields(value, "", {"imageLayoutVersion"}));
    return parser.expect_value(value, "", "imageLayoutVersion", kLayoutVersion, "layout version");
}

std::string serialize_layout_file()
{
    OrderedJson json;
    json["imageLayoutVersion"] = kLayoutVersion;
    return json.dump();
}

Result<ImageIndex> parse_index(std::string_view json)
{
    Parser parser("index.json");
    Json value = TRY(parser.parse(json));

    // Versions first, so a newer bundle is reported as newer.
    TRY(parser.expect_schema_version(value));
    TRY(parser.expect_fields(
        value, "", {"schemaVersion", "mediaType", "manifests", "annotations"}));
    TRY(parser.expect_value(value, "", "mediaType", kIndexMediaType, "media type"));
    Annotations annotations = TRY(parser.annotations(value.at("annotations"), "annotations"));
    auto version = annotations.find(std::string(kBundleVersionAnnotation));
    if (version == annotations.end())
        return parser.refuse("missing annotation annotations[\"org.sporevm.bundle.version\"]");
    if (version->second != kBundleVersion) {
        return parser.refuse("unsupported bundle version " + in_quotes(version->second)
            + " (this spore reads " + std::string(kBundleVersion) + ")");
    }

    const Json& manifests = value.at("manifests");
    if (!manifests.is_array())
        return parser.refuse("manifests", "expected an array");
    if (manifests.size() > kMaxIndexEntries)
        return parser.refuse("manifests", "too many entries");
    ImageIndex index;
    std::set<std::string> children;
    bool has_parent = false;
    for (size_t position = 0; position < manifests.size(); position++) {
        std::string path = element("manifests", position);
        Descriptor entry = TRY(parser.descriptor(manifests[position], path, true));
        TRY(check_index_entry(parser, entry, path, children, has_parent));
        index.manifests.push_back(std::move(entry));
    }
    if (!has_parent)
        return parser.refuse("manifests", "no parent");
    return index;
}

std::string serialize_index(const ImageIndex& index)
{
    OrderedJson json;
    json["schemaVersion"] = 2;
    json["mediaType"] = kIndexMediaType;
    OrderedJson manifests = OrderedJson::array();
    for (const Descriptor& descriptor : index.manifests)
        manifests.push_back(descriptor_to_json(descriptor));
    json["manifests"] = std::move(manifests);
    json["annotations"] = {{kBundleVersionAnnotation, kBundleVersion}};
    return json.dump();
}

Result<ArtifactManifest> parse_artifact_manifest(std::string_view json)
{
    Parser parser("manifest");
    Json value = TRY(parser.parse(json));
    TRY(parser.expect_schema_version(value));
    TRY(parser.expect_fields(
        value, "", {"schemaVersion", "mediaType", "artifactType", "config", "layers"}));
    TRY(parser.expect_value(value, "", "mediaType", kManifestMediaType, "media type"));
    TRY(parser.expect_value(value, "", "artifactType", kSporeArtifactType, "artifact type"));

    ArtifactManifest manifest;
    manifest.config = TRY(parser.descriptor(value.at("config"), "config", false));
    Descriptor empty{
        std::string(kEmptyMediaType), std::string(kEmptyDigest), kEmptyContent.size(), {}, {}};
    if (manifest.config != empty)
        return parser.refuse("config", "expected the OCI empty descriptor");

    const Json& layers = value.at("layers");
    if (!layers.is_array() || layers.empty())
        return parser.refuse("layers", "expected a non-empty array");
    std::set<std::string> chunks;
    for (size_t position = 0; position < layers.size(); position++) {
        std::string path = element("layers", position);
        Descriptor layer = TRY(parser.descriptor(layers[position], path, false));
        // The spore manifest comes first and only first; chunks follow.
        std::string_view expected = position == 0 ? kSporeManifestMediaType : kChunkMediaType;
        if (layer.media_type != expected) {
            return parser.refuse(join(path, "mediaType"),
                "unsupported media type " + in_quotes(layer.media_type) + " (expected "
                    + std::string(expected) + ")");
        }
        uint64_t limit = position == 0 ? kMaxManifestSize : kMaxChunkSize;
        if (layer.size == 0 || layer.size > limit) {
            return parser.refuse(join(path, "size"),
                std::to_string(layer.size) + " bytes is outside 1 to " + std::to_string(limit));
        }
        if (position > 0 && !chunks.insert(layer.digest).second)
            return parser.refuse(path, "chunk " + layer.digest + " appears twice");
        manifest.layers.push_back(std::move(layer));
    }
    return manifest;
}

std::string serialize_artifact_manifest(const ArtifactManifest& manifest)
{
    OrderedJson json;
    json["schemaVersion"] = 2;
    json["mediaType"] = kManifestMediaType;
    json["artifactType"] = kSporeArtifactType;
    json["config"] = descriptor_to_json(manifest.config);
    OrderedJson layers = OrderedJson::array();
    for (const Descriptor& layer : manifest.layers)
        layers.push_back(descriptor_to_json(layer));
    json["layers"] = std::move(layers);
    return json.dump();
}

const Descriptor* find_spore(const ImageIndex& index, std::optional<std::string_view> child)
{
    for (const Descriptor& entry : index.manifests) {
        auto role = entry.annotations.find(std::string(kRoleAnnotation));
        auto name = entry.annotations.find(std::string(kChildAnnotation));
        if (role == entry.annotations.end())
            continue;
        if (!child && role->second == kParentRole)
            return &entry;
        if (child && role->second == kChildRole && name != entry.annotations.end()
            && name->second == *child)
            return &entry;
    }
    return nullptr;
}

} // namespace spore::bundle
