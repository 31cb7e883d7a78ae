#include "bundle/bundle_json.h"

#include <gtest/gtest.h>

#include <span>

#include "spore/digest.h"
#include "spore/manifest_json.h"

namespace spore::bundle {
namespace {

std::string fake_digest(char hex)
{
    return "sha256:" + std::string(64, hex);
}

const std::string kParentDigest = fake_digest('a');
const std::string kFirstChildDigest = fake_digest('b');
const std::string kSecondChildDigest = fake_digest('c');
const std::string kSporeManifestDigest = fake_digest('d');
const std::string kFirstChunkDigest = fake_digest('e');
const std::string kSecondChunkDigest = fake_digest('f');

// text with its only occurrence of from replaced; a test whose edit does
// not apply fails here rather than passing on the unedited document.
std::string replaced(const std::string& text, const std::string& from, const std::string& to)
{
    size_t at = text.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    EXPECT_EQ(text.find(from, at + 1), std::string::npos) << from << " occurs twice";
    if (at == std::string::npos)
        return text;
    return text.substr(0, at) + to + text.substr(at + from.size());
}

Descriptor spore_entry(const std::string& digest, uint64_t size, Annotations annotations)
{
    return {std::string(kManifestMediaType), digest, size, std::string(kSporeArtifactType),
        std::move(annotations)};
}

Annotations parent_annotations()
{
    return {{"org.sporevm.role", "parent"}};
}

Annotations child_annotations(const std::string& name)
{
    return {{"org.sporevm.role", "child"}, {"org.sporevm.child", name}};
}

// A parent and two children, with distinct sizes so that an edit can aim
// at one entry.
ImageIndex sample_index()
{
    ImageIndex index;
    index.manifests.push_back(spore_entry(kParentDigest, 1000, parent_annotations()));
    index.manifests.push_back(spore_entry(kFirstChildDigest, 1001, child_annotations("000000")));
    index.manifests.push_back(spore_entry(kSecondChildDigest, 1002, child_annotations("000001")));
    return index;
}

Descriptor empty_config()
{
    return {std::string(kEmptyMediaType), std::string(kEmptyDigest), kEmptyContent.size(), {}, {}};
}

ArtifactManifest sample_artifact()
{
    ArtifactManifest manifest;
    manifest.config = empty_config();
    manifest.layers.push_back(
        {std::string(kSporeManifestMediaType), kSporeManifestDigest, 4000, {}, {}});
    manifest.layers.push_back({std::string(kChunkMediaType), kFirstChunkDigest, 65536, {}, {}});
    manifest.layers.push_back({std::string(kChunkMediaType), kSecondChunkDigest, 65537, {}, {}});
    return manifest;
}

std::string index_text()
{
    return serialize_index(sample_index());
}
std::string artifact_text()
{
    return serialize_artifact_manifest(sample_artifact());
}

// The error message each parser gives for text, or "" if it parses.
std::string index_refusal(std::string_view text)
{
    auto parsed = parse_index(text);
    return parsed ? "" : parsed.error().message();
}

std::string artifact_refusal(std::string_view text)
{
    auto parsed = parse_artifact_manifest(text);
    return parsed ? "" : parsed.error().message();
}

std::string layout_refusal(std::string_view text)
{
    auto parsed = parse_layout_file(text);
    return parsed ? "" : parsed.error().message();
}

// The parent entry's annotations object, as serialized, for edits.
const std::string kParentAnnotationsText = R"("annotations":{"org.sporevm.role":"parent"})";
const std::string kFirstChildNameText = R"("org.sporevm.child":"000000")";

// ---- oci-layout

TEST(LayoutFile, SerializesToTheSpecifiedText)
{
    EXPECT_EQ(serialize_layout_file(), R"({"imageLayoutVersion":"1.0.0"})");
    EXPECT_EQ(layout_refusal(serialize_layout_file()), "");
}

TEST(LayoutFile, AnotherLayoutVersionIsRefused)
{
    EXPECT_EQ(layout_refusal(R"({"imageLayoutVersion":"1.1.0"})"),
        "oci-layout: imageLayoutVersion: unsupported layout version \"1.1.0\" (expected 1.0.0)");
}

TEST(LayoutFile, ExtraFieldIsRefused)
{
    EXPECT_EQ(layout_refusal(R"({"imageLayoutVersion":"1.0.0","extra":true})"),
        "oci-layout: unknown field extra");
}

TEST(LayoutFile, MissingVersionIsRefused)
{
    EXPECT_EQ(layout_refusal("{}"), "oci-layout: missing field imageLayoutVersion");
}

TEST(LayoutFile, NonObjectAndNonStringVersionAreRefused)
{
    EXPECT_EQ(layout_refusal(R"(["1.0.0"])"), "oci-layout: top level: expected an object");
    EXPECT_EQ(layout_refusal(R"({"imageLayoutVersion":1})"),
        "oci-layout: imageLayoutVersion: expected a string");
}

TEST(LayoutFile, TrailingContentIsRefused)
{
    EXPECT_EQ(layout_refusal(R"({"imageLayoutVersion":"1.0.0"}x)"),
        "oci-layout: malformed json at byte 31");
}

// ---- index.json: serializing

TEST(IndexJson, SerializedFormIsCompactWithFieldsInFixedOrder)
{
    ImageIndex index;
    index.manifests.push_back(spore_entry(kParentDigest, 1000, parent_annotations()));
    EXPECT_EQ(serialize_index(index),
        R"({"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json",)"
        R"("manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json",)"
        R"("artifactType":"application/vnd.sporevm.spore.v1","digest":")"
            + kParentDigest
            + R"(","size":1000,"annotations":{"org.sporevm.role":"parent"}}],)"
              R"("annotations":{"org.sporevm.bundle.version":"1"}})");
}

TEST(IndexJson, RoundTripIsByteIdentical)
{
    std::string text = index_text();
    auto parsed = parse_index(text);
    ASSERT_TRUE(parsed) << parsed.error().message();
    EXPECT_EQ(*parsed, sample_index());
    EXPECT_EQ(serialize_index(*parsed), text);
}

TEST(IndexJson, FieldAndAnnotationOrderInTheInputDoNotChangeTheSerialization)
{
    // The same index as a foreign writer might lay it out: fields reordered,
    // child annotations in reverse order, whitespace between tokens.
    std::string shuffled = R"({ "annotations": {"org.sporevm.bundle.version": "1"},
        "manifests": [
          {"size": 1000, "digest": ")"
        + kParentDigest + R"(", "annotations": {"org.sporevm.role": "parent"},
           "artifactType": "application/vnd.sporevm.spore.v1",
           "mediaType": "application/vnd.oci.image.manifest.v1+json"},
          {"mediaType": "application/vnd.oci.image.manifest.v1+json", "size": 1001,
           "artifactType": "application/vnd.sporevm.spore.v1", "digest": ")"
        + kFirstChildDigest + R"(",
           "annotations": {"org.sporevm.child": "000000", "org.sporevm.role": "child"}},
          {"mediaType": "application/vnd.oci.image.manifest.v1+json", "size": 1002,
           "artifactType": "application/vnd.sporevm.spore.v1", "digest": ")"
        + kSecondChildDigest + R"(",
           "annotations": {"org.sporevm.child": "000001", "org.sporevm.role": "child"}}],
        "mediaType": "application/vnd.oci.image.index.v1+json", "schemaVersion": 2 })";
    auto parsed = parse_index(shuffled);
    ASSERT_TRUE(parsed) << parsed.error().message();
    EXPECT_EQ(serialize_index(*parsed), index_text());
}

TEST(IndexJson, ForeignAnnotationsAreKeptAndSerialized)
{
    std::string text = replaced(index_text(), kParentAnnotationsText,
        R"("annotations":{"org.opencontainers.image.ref.name":"latest","org.sporevm.role":"parent"})");
    auto parsed = parse_index(text);
    ASSERT_TRUE(parsed) << parsed.error().message();
    EXPECT_EQ(parsed->manifests[0].annotations.at("org.opencontainers.image.ref.name"), "latest");
    EXPECT_EQ(serialize_index(*parsed), text);
}

// ---- index.json: malformed and oddly shaped JSON

TEST(IndexJson, MalformedJsonIsRefusedWithItsBytePosition)
{
    // The 18th byte, ',' where a value should be, is the first that cannot
    // continue the document.
    EXPECT_EQ(index_refusal(R"({"schemaVersion":,"mediaType":"x"})"),
        "index.json: malformed json at byte 18");
    EXPECT_EQ(index_refusal(""), "index.json: malformed json at byte 1");
}

TEST(IndexJson, TruncatedDocumentIsRefused)
{
    std::string text = index_text();
    EXPECT_EQ(index_refusal(text.substr(0, text.size() - 1)),
        "index.json: malformed json at byte " + std::to_string(text.size()));
}

TEST(IndexJson, TrailingContentIsRefused)
{
    std::string text = index_text();
    EXPECT_EQ(index_refusal(text + "{}"),
        "index.json: malformed json at byte " + std::to_string(text.size() + 1));
    // Trailing whitespace is still the same document.
    EXPECT_EQ(index_refusal(text + "\n"), "");
}

TEST(IndexJson, InvalidUtf8IsRefused)
{
    std::string text = replaced(index_text(), "\"parent\"", "\"par\xffnt\"");
    EXPECT_TRUE(index_refusal(text).starts_with("index.json: malformed json at byte "))
        << index_refusal(text);
}

TEST(IndexJson, DuplicateTopLevelFieldIsRefused)
{
    std::string text = replaced(
        index_text(), R"("schemaVersion":2,)", R"("schemaVersion":2,"schemaVersion":2,)");
    EXPECT_EQ(index_refusal(text), "index.json: duplicate field schemaVersion");
}

TEST(IndexJson, DuplicateAnnotationSpelledWithAnEscapeIsRefused)
{
    // "\u0072ole" is "role": a DOM would silently keep one of the two.
    std::string text = replaced(index_text(), kParentAnnotationsText,
        R"("annotations":{"org.sporevm.role":"parent","org.sporevm.\u0072ole":"child"})");
    EXPECT_EQ(index_refusal(text), "index.json: duplicate field manifests[0].annotations.org.sporevm.role");
}

TEST(IndexJson, NestingOneLevelDeeperThanTheIndexNeedsIsRefused)
{
    // Annotations are the fourth level; an object inside one is the fifth.
    std::string text = replaced(index_text(), kParentAnnotationsText,
        R"("annotations":{"org.sporevm.role":"parent","x":{}})");
    EXPECT_EQ(index_refusal(text), "index.json: nested deeper than 4 levels");
}

TEST(IndexJson, HostileNestingIsRefusedCheaply)
{
    std::string text = std::string(100000, '[') + std::string(100000, ']');
    EXPECT_EQ(index_refusal(text), "index.json: nested deeper than 4 levels");
}

TEST(IndexJson, TopLevelThatIsNotAnObjectIsRefused)
{
    EXPECT_EQ(index_refusal("[]"), "index.json: top level: expected an object");
    EXPECT_EQ(index_refusal("2"), "index.json: top level: expected an object");
}

// ---- index.json: fields

TEST(IndexJson, UnknownTopLevelFieldIsRefused)
{
    std::string text
        = replaced(index_text(), R"("schemaVersion":2,)", R"("schemaVersion":2,"subject":null,)");
    EXPECT_EQ(index_refusal(text), "index.json: unknown field subject");
}

TEST(IndexJson, UnknownDescriptorFieldIsRefused)
{
    std::string text
        = replaced(index_text(), R"("size":1000,)", R"("size":1000,"urls":["http://x"],)");
    EXPECT_EQ(index_refusal(text), "index.json: unknown field manifests[0].urls");
}

TEST(IndexJson, WrongSchemaVersionIsRefused)
{
    std::string text = replaced(index_text(), R"("schemaVersion":2)", R"("schemaVersion":3)");
    EXPECT_EQ(index_refusal(text), "index.json: unsupported schemaVersion 3 (expected 2)");
}

TEST(IndexJson, SchemaVersionThatIsNotAnUnsignedIntegerIsRefused)
{
    for (std::string version : {"\"2\"", "2.0", "-2", "null"}) {
        std::string text
            = replaced(index_text(), R"("schemaVersion":2)", R"("schemaVersion":)" + version);
        EXPECT_EQ(index_refusal(text), "index.json: schemaVersion: expected an unsigned integer")
            << version;
    }
}

TEST(IndexJson, MissingSchemaVersionIsRefused)
{
    std::string text = replaced(index_text(), R"("schemaVersion":2,)", "");
    EXPECT_EQ(index_refusal(text), "index.json: missing field schemaVersion");
}

TEST(IndexJson, WrongMediaTypeIsRefused)
{
    std::string text = replaced(index_text(),
        R"({"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json")",
        R"({"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.list.v2+json")");
    EXPECT_EQ(index_refusal(text),
        "index.json: mediaType: unsupported media type "
        "\"application/vnd.docker.distribution.manifest.list.v2+json\" "
        "(expected application/vnd.oci.image.index.v1+json)");
}

TEST(IndexJson, MissingMediaTypeIsRefused)
{
    std::string text
        = replaced(index_text(), R"("mediaType":"application/vnd.oci.image.index.v1+json",)", "");
    EXPECT_EQ(index_refusal(text), "index.json: missing field mediaType");
}

TEST(IndexJson, MissingBundleVersionIsRefused)
{
    std::string text = replaced(index_text(), R"({"org.sporevm.bundle.version":"1"})",
        R"({"org.opencontainers.image.ref.name":"latest"})");
    EXPECT_EQ(index_refusal(text),
        "index.json: missing annotation annotations[\"org.sporevm.bundle.version\"]");
    std::string bare
        = replaced(index_text(), R"(,"annotations":{"org.sporevm.bundle.version":"1"}})", "}");
    EXPECT_EQ(index_refusal(bare), "index.json: missing field annotations");
}

TEST(IndexJson, NewerBundleVersionIsRefusedAsSuch)
{
    std::string text = replaced(
        index_text(), R"("org.sporevm.bundle.version":"1")", R"("org.sporevm.bundle.version":"2")");
    EXPECT_EQ(
        index_refusal(text), "index.json: unsupported bundle version \"2\" (this spore reads 1)");
}

TEST(IndexJson, ManifestsThatAreNotAnArrayOfObjectsAreRefused)
{
    std::string text = index_text();
    size_t start = text.find("[");
    size_t end = text.rfind("]");
    EXPECT_EQ(index_refusal(text.substr(0, start) + "{}" + text.substr(end + 1)),
        "index.json: manifests: expected an array");
    EXPECT_EQ(index_refusal(text.substr(0, start) + "[7]" + text.substr(end + 1)),
        "index.json: manifests[0]: expected an object");
}

// ---- index.json: entries

TEST(IndexJson, EntryThatIsNotAnOciManifestIsRefused)
{
    std::string text = index_text();
    std::string manifest_type = R"("mediaType":"application/vnd.oci.image.manifest.v1+json")";
    text.replace(text.find(manifest_type), manifest_type.size(),
        R"("mediaType":"application/vnd.oci.image.index.v1+json")");
    EXPECT_EQ(index_refusal(text),
        "index.json: manifests[0].mediaType: unsupported media type "
        "\"application/vnd.oci.image.index.v1+json\"");
}

TEST(IndexJson, EntryWithoutTheSporeArtifactTypeIsRefused)
{
    std::string text = index_text();
    std::string artifact_type = R"("artifactType":"application/vnd.sporevm.spore.v1",)";
    text.erase(text.find(artifact_type), artifact_type.size());
    EXPECT_EQ(index_refusal(text),
        "index.json: manifests[0].artifactType: unsupported artifact type \"\" "
        "(expected application/vnd.sporevm.spore.v1)");

    text = index_text();
    text.replace(text.find(artifact_type), artifact_type.size(),
        R"("artifactType":"application/vnd.sporevm.spore.v2",)");
    EXPECT_EQ(index_refusal(text),
        "index.json: manifests[0].artifactType: unsupported artifact type "
        "\"application/vnd.sporevm.spore.v2\" (expected application/vnd.sporevm.spore.v1)");
}

TEST(IndexJson, MalformedDigestsAreRefused)
{
    std::string hex = kParentDigest.substr(7);
    std::string upper = hex;
    upper[10] = 'A';
    for (std::string digest :
        {"sha256:" + hex.substr(1), "sha256:" + hex + "a", "sha256:" + upper, "sha512:" + hex, hex,
            "SHA256:" + hex, "sha256:" + hex.substr(1) + "g", std::string()}) {
        std::string text = replaced(index_text(), kParentDigest, digest);
        EXPECT_EQ(index_refusal(text),
            "index.json: manifests[0].digest: \"" + digest + "\" is not a sha256 digest")
            << digest;
    }
}

TEST(IndexJson, EntrySizeIsLimitedToTheManifestLimit)
{
    ImageIndex index = sample_index();
    index.manifests[0].size = kMaxOciManifestSize;
    EXPECT_EQ(index_refusal(serialize_index(index)), "");
    index.manifests[0].size = kMaxOciManifestSize + 1;
    EXPECT_EQ(index_refusal(serialize_index(index)),
        "index.json: manifests[0].size: 4194305 bytes is over the manifest limit of 4194304");
}

TEST(IndexJson, SizeThatIsNotAnUnsignedIntegerIsRefused)
{
    for (std::string size : {"-1", "1000.0", "1e3", "\"1000\"", "18446744073709551616"}) {
        std::string text = replaced(index_text(), R"("size":1000,)", R"("size":)" + size + ",");
        EXPECT_EQ(
            index_refusal(text), "index.json: manifests[0].size: expected an unsigned integer")
            << size;
    }
}

TEST(IndexJson, IndexWithoutParentIsRefused)
{
    ImageIndex index = sample_index();
    index.manifests.erase(index.manifests.begin());
    EXPECT_EQ(index_refusal(serialize_index(index)), "index.json: manifests: no parent");
    EXPECT_EQ(index_refusal(serialize_index(ImageIndex{})), "index.json: manifests: no parent");
}

TEST(IndexJson, SecondParentIsRefused)
{
    ImageIndex index = sample_index();
    index.manifests[2].annotations = parent_annotations();
    EXPECT_EQ(index_refusal(serialize_index(index)), "index.json: manifests[2]: a second parent");
}

TEST(IndexJson, ParentWithAChildNameIsRefused)
{
    ImageIndex index = sample_index();
    index.manifests[0].annotations["org.sporevm.child"] = "000002";
    EXPECT_EQ(index_refusal(serialize_index(index)),
        "index.json: manifests[0].annotations: the parent has a child name");
}

TEST(IndexJson, EntryWithoutRoleOrWithAnUnknownRoleIsRefused)
{
    ImageIndex index = sample_index();
    index.manifests[1].annotations.erase("org.sporevm.role");
    EXPECT_EQ(index_refusal(serialize_index(index)),
        "index.json: missing annotation manifests[1].annotations[\"org.sporevm.role\"]");
    index.manifests[1].annotations["org.sporevm.role"] = "sibling";
    EXPECT_EQ(index_refusal(serialize_index(index)),
        "index.json: manifests[1].annotations: unknown role \"sibling\"");
}

TEST(IndexJson, ChildWithoutNameIsRefused)
{
    ImageIndex index = sample_index();
    index.manifests[1].annotations.erase("org.sporevm.child");
    EXPECT_EQ(index_refusal(serialize_index(index)),
        "index.json: missing annotation manifests[1].annotations[\"org.sporevm.child\"]");
}

TEST(IndexJson, ChildNameThatIsNotSixDigitsIsRefused)
{
    for (std::string name :
        {"00000", "0000000", "00000a", "-00001", "+00001", " 00001", "0x0001", ""}) {
        std::string text
            = replaced(index_text(), kFirstChildNameText, R"("org.sporevm.child":")" + name + "\"");
        EXPECT_EQ(index_refusal(text),
            "index.json: manifests[1].annotations: child name \"" + name + "\" is not six digits")
            << name;
    }
}

TEST(IndexJson, DuplicateChildIsRefused)
{
    ImageIndex index = sample_index();
    index.manifests[2].annotations["org.sporevm.child"] = "000000";
    EXPECT_EQ(index_refusal(serialize_index(index)),
        "index.json: manifests[2].annotations: child 000000 appears twice");
}

// ---- index.json: annotations

TEST(IndexJson, UnknownSporevmAnnotationIsRefused)
{
    ImageIndex index = sample_index();
    index.manifests[0].annotations["org.sporevm.colour"] = "blue";
    EXPECT_EQ(index_refusal(serialize_index(index)),
        "index.json: manifests[0].annotations[\"org.sporevm.colour\"]: unknown annotation");
}

TEST(IndexJson, UnknownTopLevelSporevmAnnotationIsRefused)
{
    std::string text = replaced(index_text(), R"({"org.sporevm.bundle.version":"1"})",
        R"({"org.sporevm.bundle.compression":"zstd","org.sporevm.bundle.version":"1"})");
    EXPECT_EQ(index_refusal(text),
        "index.json: annotations[\"org.sporevm.bundle.compression\"]: unknown annotation");
}

TEST(IndexJson, RefusalNamesALongAnnotationKeyInFull)
{
    // Long enough that the key and its path exceed the length at which
    // untrusted text alone is cut.
    std::string key = "org.sporevm.child.restore.hint.memory.prefetch.window.pages.maximum.v2";
    ImageIndex index = sample_index();
    index.manifests[2].annotations[key] = "1";
    EXPECT_EQ(index_refusal(serialize_index(index)),
        "index.json: manifests[2].annotations[\"" + key + "\"]: unknown annotation");
}

TEST(IndexJson, AnnotationCountIsLimited)
{
    ImageIndex index = sample_index();
    for (size_t count = 1; count < kMaxAnnotations; count++)
        index.manifests[0].annotations["com.example." + std::to_string(count)] = "x";
    EXPECT_EQ(index_refusal(serialize_index(index)), "");
    index.manifests[0].annotations["com.example.last"] = "x";
    EXPECT_EQ(index_refusal(serialize_index(index)),
        "index.json: manifests[0].annotations: 65 entries, limit is 64");
}

TEST(IndexJson, AnnotationLengthIsLimited)
{
    ImageIndex index = sample_index();
    index.manifests[0].annotations["com.example.note"] = std::string(kMaxAnnotationLength, 'n');
    EXPECT_EQ(index_refusal(serialize_index(index)), "");
    index.manifests[0].annotations["com.example.note"] += "n";
    EXPECT_EQ(index_refusal(serialize_index(index)),
        "index.json: manifests[0].annotations[\"com.example.note\"]: key or value is empty or "
        "longer than 1024 bytes");
}

TEST(IndexJson, EmptyAnnotationKeyIsRefused)
{
    std::string text = replaced(index_text(), kParentAnnotationsText,
        R"("annotations":{"":"x","org.sporevm.role":"parent"})");
    EXPECT_EQ(index_refusal(text),
        "index.json: manifests[0].annotations[\"\"]: key or value is empty or longer than 1024 "
        "bytes");
}

TEST(IndexJson, AnnotationThatIsNotAStringIsRefused)
{
    std::string text = replaced(index_text(), kParentAnnotationsText,
        R"("annotations":{"com.example.count":3,"org.sporevm.role":"parent"})");
    EXPECT_EQ(index_refusal(text),
        "index.json: manifests[0].annotations[\"com.example.count\"]: expected a string");
}

TEST(IndexJson, UntrustedTextInRefusalsIsPrintableAndBounded)
{
    std::string role = "\\u0007" + std::string(100, 'r');
    std::string text = replaced(
        index_text(), R"("org.sporevm.role":"parent")", R"("org.sporevm.role":")" + role + "\"");
    EXPECT_EQ(index_refusal(text),
        "index.json: manifests[0].annotations: unknown role \"?" + std::string(79, 'r') + "...\"");
}

// ---- artifact manifests

TEST(ArtifactManifestJson, SerializedFormIsCompactWithFieldsInFixedOrder)
{
    ArtifactManifest manifest = sample_artifact();
    manifest.layers.pop_back();
    EXPECT_EQ(serialize_artifact_manifest(manifest),
        R"({"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",)"
        R"("artifactType":"application/vnd.sporevm.spore.v1",)"
        R"("config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":")"
            + std::string(kEmptyDigest)
            + R"(","size":2},"layers":[)"
              R"({"mediaType":"application/vnd.sporevm.spore.manifest.v1+json","digest":")"
            + kSporeManifestDigest
            + R"(","size":4000},{"mediaType":"application/vnd.sporevm.chunk.v1","digest":")"
            + kFirstChunkDigest + R"(","size":65536}]})");
}

TEST(ArtifactManifestJson, RoundTripIsByteIdentical)
{
    std::string text = artifact_text();
    auto parsed = parse_artifact_manifest(text);
    ASSERT_TRUE(parsed) << parsed.error().message();
    EXPECT_EQ(*parsed, sample_artifact());
    EXPECT_EQ(serialize_artifact_manifest(*parsed), text);
}

TEST(ArtifactManifestJson, EmptyDescriptorNamesItsContent)
{
    std::span<const uint8_t> content(
        reinterpret_cast<const uint8_t*>(kEmptyContent.data()), kEmptyContent.size());
    EXPECT_EQ(digest_of(content), kEmptyDigest);
}

TEST(ArtifactManifestJson, SporeManifestAloneIsAValidArtifact)
{
    // A spore whose RAM is all zero chunks stores no chunk.
    ArtifactManifest manifest = sample_artifact();
    manifest.layers.resize(1);
    EXPECT_EQ(artifact_refusal(serialize_artifact_manifest(manifest)), "");
}

TEST(ArtifactManifestJson, WrongOrMissingArtifactTypeIsRefused)
{
    std::string field = R"("artifactType":"application/vnd.sporevm.spore.v1",)";
    EXPECT_EQ(artifact_refusal(replaced(
                  artifact_text(), field, R"("artifactType":"application/vnd.example.other",)")),
        "manifest: artifactType: unsupported artifact type \"application/vnd.example.other\" "
        "(expected application/vnd.sporevm.spore.v1)");
    EXPECT_EQ(artifact_refusal(replaced(artifact_text(), field, "")),
        "manifest: missing field artifactType");
}

TEST(ArtifactManifestJson, WrongMediaTypeOrSchemaVersionIsRefused)
{
    EXPECT_EQ(artifact_refusal(replaced(artifact_text(),
                  R"("mediaType":"application/vnd.oci.image.manifest.v1+json")",
                  R"("mediaType":"application/vnd.oci.image.index.v1+json")")),
        "manifest: mediaType: unsupported media type \"application/vnd.oci.image.index.v1+json\" "
        "(expected application/vnd.oci.image.manifest.v1+json)");
    EXPECT_EQ(
        artifact_refusal(replaced(artifact_text(), R"("schemaVersion":2)", R"("schemaVersion":1)")),
        "manifest: unsupported schemaVersion 1 (expected 2)");
}

TEST(ArtifactManifestJson, UnknownTopLevelFieldIsRefused)
{
    std::string text = replaced(
        artifact_text(), R"("schemaVersion":2,)", R"("schemaVersion":2,"annotations":{},)");
    EXPECT_EQ(artifact_refusal(text), "manifest: unknown field annotations");
}

TEST(ArtifactManifestJson, ConfigOtherThanTheEmptyDescriptorIsRefused)
{
    std::vector<Descriptor> configs(3, empty_config());
    configs[0].size = 3;
    configs[1].digest = kFirstChunkDigest;
    configs[2].media_type = "application/vnd.oci.image.config.v1+json";
    for (const Descriptor& config : configs) {
        ArtifactManifest manifest = sample_artifact();
        manifest.config = config;
        EXPECT_EQ(artifact_refusal(serialize_artifact_manifest(manifest)),
            "manifest: config: expected the OCI empty descriptor")
            << config.media_type << " " << config.digest << " " << config.size;
    }
}

TEST(ArtifactManifestJson, ConfigWithAnnotationsIsRefused)
{
    ArtifactManifest manifest = sample_artifact();
    manifest.config.annotations["com.example.note"] = "x";
    EXPECT_EQ(artifact_refusal(serialize_artifact_manifest(manifest)),
        "manifest: unknown field config.annotations");
}

TEST(ArtifactManifestJson, FirstLayerThatIsNotTheSporeManifestIsRefused)
{
    ArtifactManifest manifest = sample_artifact();
    manifest.layers.erase(manifest.layers.begin());
    EXPECT_EQ(artifact_refusal(serialize_artifact_manifest(manifest)),
        "manifest: layers[0].mediaType: unsupported media type "
        "\"application/vnd.sporevm.chunk.v1\" "
        "(expected application/vnd.sporevm.spore.manifest.v1+json)");
}

TEST(ArtifactManifestJson, SecondSporeManifestLayerIsRefused)
{
    ArtifactManifest manifest = sample_artifact();
    manifest.layers[2].media_type = kSporeManifestMediaType;
    EXPECT_EQ(artifact_refusal(serialize_artifact_manifest(manifest)),
        "manifest: layers[2].mediaType: unsupported media type "
        "\"application/vnd.sporevm.spore.manifest.v1+json\" (expected "
        "application/vnd.sporevm.chunk.v1)");
}

TEST(ArtifactManifestJson, DuplicateChunkLayerIsRefused)
{
    ArtifactManifest manifest = sample_artifact();
    manifest.layers[2].digest = kFirstChunkDigest;
    EXPECT_EQ(artifact_refusal(serialize_artifact_manifest(manifest)),
        "manifest: layers[2]: chunk " + kFirstChunkDigest + " appears twice");
}

TEST(ArtifactManifestJson, ZeroSizeLayerIsRefused)
{
    ArtifactManifest manifest = sample_artifact();
    manifest.layers[1].size = 0;
    EXPECT_EQ(artifact_refusal(serialize_artifact_manifest(manifest)),
        "manifest: layers[1].size: 0 bytes is outside 1 to 67108864");
    manifest = sample_artifact();
    manifest.layers[0].size = 0;
    EXPECT_EQ(artifact_refusal(serialize_artifact_manifest(manifest)),
        "manifest: layers[0].size: 0 bytes is outside 1 to 16777216");
}

TEST(ArtifactManifestJson, LayerSizesAreLimited)
{
    ArtifactManifest manifest = sample_artifact();
    manifest.layers[0].size = kMaxManifestSize;
    manifest.layers[1].size = kMaxChunkSize;
    EXPECT_EQ(artifact_refusal(serialize_artifact_manifest(manifest)), "");

    manifest.layers[0].size = kMaxManifestSize + 1;
    EXPECT_EQ(artifact_refusal(serialize_artifact_manifest(manifest)),
        "manifest: layers[0].size: 16777217 bytes is outside 1 to 16777216");
    manifest.layers[0].size = kMaxManifestSize;
    manifest.layers[1].size = kMaxChunkSize + 1;
    EXPECT_EQ(artifact_refusal(serialize_artifact_manifest(manifest)),
        "manifest: layers[1].size: 67108865 bytes is outside 1 to 67108864");
}

TEST(ArtifactManifestJson, EmptyOrMissingLayersAreRefused)
{
    ArtifactManifest manifest = sample_artifact();
    manifest.layers.clear();
    EXPECT_EQ(artifact_refusal(serialize_artifact_manifest(manifest)),
        "manifest: layers: expected a non-empty array");
    std::string text = artifact_text();
    EXPECT_EQ(artifact_refusal(text.substr(0, text.find(",\"layers\"")) + "}"),
        "manifest: missing field layers");
}

TEST(ArtifactManifestJson, LayerWithAnnotationsOrArtifactTypeIsRefused)
{
    ArtifactManifest manifest = sample_artifact();
    manifest.layers[1].annotations["org.opencontainers.image.title"] = "chunk";
    EXPECT_EQ(artifact_refusal(serialize_artifact_manifest(manifest)),
        "manifest: unknown field layers[1].annotations");
    manifest = sample_artifact();
    manifest.layers[2].artifact_type = std::string(kSporeArtifactType);
    EXPECT_EQ(artifact_refusal(serialize_artifact_manifest(manifest)),
        "manifest: unknown field layers[2].artifactType");
}

TEST(ArtifactManifestJson, LayerWithAMalformedDigestIsRefused)
{
    std::string upper = "sha256:" + std::string(64, 'E');
    std::string text = replaced(artifact_text(), kFirstChunkDigest, upper);
    EXPECT_EQ(artifact_refusal(text),
        "manifest: layers[1].digest: \"" + upper + "\" is not a sha256 digest");
}

TEST(ArtifactManifestJson, DuplicateFieldInALayerIsRefused)
{
    std::string text
        = replaced(artifact_text(), R"("size":65536})", R"("size":65536,"size":65536})");
    EXPECT_EQ(artifact_refusal(text), "manifest: duplicate field layers[1].size");
}

TEST(ArtifactManifestJson, NestingDeeperThanFourLevelsIsRefused)
{
    std::string text = replaced(artifact_text(), R"("size":65536})", R"("size":[[65536]]})");
    EXPECT_EQ(artifact_refusal(text), "manifest: nested deeper than 4 levels");
}

// ---- find_spore and is_child_name

TEST(FindSpore, FindsTheParentAndEachChildByName)
{
    ImageIndex index = sample_index();
    EXPECT_EQ(find_spore(index, std::nullopt), &index.manifests[0]);
    EXPECT_EQ(find_spore(index, "000000"), &index.manifests[1]);
    EXPECT_EQ(find_spore(index, "000001"), &index.manifests[2]);
}

TEST(FindSpore, ReturnsNullForAChildTheBundleLacks)
{
    ImageIndex index = sample_index();
    EXPECT_EQ(find_spore(index, "000002"), nullptr);
    EXPECT_EQ(find_spore(index, ""), nullptr);
}

TEST(FindSpore, ParentOnlyBundleHasNoChildren)
{
    ImageIndex index = sample_index();
    index.manifests.resize(1);
    EXPECT_EQ(find_spore(index, std::nullopt), &index.manifests[0]);
    EXPECT_EQ(find_spore(index, "000000"), nullptr);
}

TEST(IsChildName, AcceptsExactlySixDecimalDigits)
{
    EXPECT_TRUE(is_child_name("000000"));
    EXPECT_TRUE(is_child_name("999999"));
    EXPECT_TRUE(is_child_name("012345"));
    for (std::string_view name : {"", "00000", "0000000", "00000a", "-00000", "00000/", "0000 0"})
        EXPECT_FALSE(is_child_name(name)) << name;
    // A NUL inside the name must not end the check early.
    EXPECT_FALSE(is_child_name(std::string_view("00000\0", 6)));
}

} // namespace
} // namespace spore::bundle
