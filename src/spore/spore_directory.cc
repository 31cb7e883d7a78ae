#include "spore/spore_directory.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <unordered_set>
#include <utility>

#include "common/file.h"
#include "common/unique_fd.h"
#include "spore/durable_file.h"
#include "spore/manifest_json.h"

namespace spore {
namespace {

constexpr std::string_view kStagingMarker = ".staging-";

struct SplitPath {
    std::string parent; // "." for a bare name
    std::string name;
};

// Splits a spore path into its parent directory and base name; trailing
// slashes are ignored and names that cannot be renamed into are refused.
Result<SplitPath> split_path(std::string path)
{
    while (path.size() > 1 && path.back() == '/')
        path.pop_back();
    size_t slash = path.rfind('/');
    SplitPath split;
    split.name = slash == std::string::npos ? path : path.substr(slash + 1);
    if (slash == std::string::npos)
        split.parent = ".";
    else
        split.parent = slash == 0 ? "/" : path.substr(0, slash);
    if (split.name.empty() || split.name == "." || split.name == "..")
        return Error::invalid("\"" + path + "\": not a usable spore path");
    return split;
}

std::string child(const std::string& parent, std::string_view name)
{
    return parent + (parent.ends_with('/') ? "" : "/") + std::string(name);
}

Error already_exists(const std::string& path)
{
    return {ErrorCode::InvalidInput, path + ": already exists", EEXIST};
}

// Renames a directory, refusing to replace anything at the target.
Result<void> rename_no_replace(const std::string& from, const std::string& to)
{
    if (::renameat2(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), RENAME_NOREPLACE) == 0)
        return {};
    if (errno == EEXIST)
        return already_exists(to);
    if (errno != EINVAL && errno != ENOSYS && errno != ENOTSUP)
        return Error::from_errno(to + ": rename from " + from);

    // This file system cannot refuse atomically; checking first leaves only
    // a race with another writer choosing the same name at the same moment.
    struct stat status;
    if (::lstat(to.c_str(), &status) == 0)
        return already_exists(to);
    if (::rename(from.c_str(), to.c_str()) < 0)
        return Error::from_errno(to + ": rename from " + from);
    return {};
}

// A spore is only usable if every chunk its manifest stores is present at
// full size; contents are verified later, when read.
Result<void> check_chunks_present(const MemoryIndex& memory, const ChunkStore& chunks)
{
    std::unordered_set<std::string_view> checked;
    for (const MemoryChunk& chunk : memory.chunks) {
        if (chunk.digest && checked.insert(*chunk.digest).second)
            TRY(chunks.check_stored(*chunk.digest, memory.chunk_size));
    }
    return {};
}

void remove_tree(const std::string& path)
{
    std::error_code ignored;
    std::filesystem::remove_all(path, ignored);
}

} // namespace

bool is_staging_name(std::string_view basename)
{
    return basename.starts_with('.') && basename.find(kStagingMarker) != std::string_view::npos;
}

Result<SporeWriter> SporeWriter::begin(const std::string& final_path)
{
    SplitPath split = TRY(split_path(final_path));
    std::string target = child(split.parent, split.name);
    if (is_staging_name(split.name))
        return Error::invalid(target + ": name is reserved for staging directories");
    struct stat status;
    if (::lstat(target.c_str(), &status) == 0)
        return already_exists(target);
    if (errno != ENOENT)
        return Error::from_errno(target);

    std::string staging
        = child(split.parent, "." + split.name + std::string(kStagingMarker)) + unique_suffix();
    if (::mkdir(staging.c_str(), 0755) < 0)
        return Error::from_errno(target + ": staging directory " + staging);
    auto chunks = ChunkStore::open(child(staging, kChunksDirectoryName), true);
    if (!chunks) {
        remove_tree(staging);
        return chunks.error().with_context(target);
    }
    return SporeWriter(std::move(target), std::move(staging), std::move(chunks).value());
}

SporeWriter::SporeWriter(SporeWriter&& other) noexcept
    : m_final_path(std::move(other.m_final_path))
    , m_staging_path(std::exchange(other.m_staging_path, {}))
    , m_chunks(std::move(other.m_chunks))
{
}

SporeWriter::~SporeWriter()
{
    if (!m_staging_path.empty())
        remove_tree(m_staging_path);
}

Result<void> SporeWriter::commit(const Manifest& manifest)
{
    std::string what = m_final_path;
    if (m_staging_path.empty())
        return Error::invalid(what + ": already committed");
    TRY_CONTEXT(validate_manifest(manifest), what);
    TRY_CONTEXT(check_chunks_present(manifest.memory, m_chunks), what);
    TRY_CONTEXT(write_manifest(manifest), what);
    return publish();
}

Result<void> SporeWriter::write_manifest(const Manifest& manifest)
{
    std::string text = serialize_manifest(manifest);
    UniqueFd staging(::open(m_staging_path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!staging.valid())
        return Error::from_errno(m_staging_path);
    std::span bytes(reinterpret_cast<const uint8_t*>(text.data()), text.size());
    return write_file_atomically(
        staging.get(), m_staging_path, std::string(kManifestFileName), bytes, 0644);
}

Result<void> SporeWriter::publish()
{
    // Everything inside the staging directory must be durable before the
    // rename makes it visible, or a crash could publish an empty spore.
    TRY_CONTEXT(m_chunks.sync(), m_final_path);
    TRY_CONTEXT(sync_directory(m_staging_path), m_final_path);
    TRY(rename_no_replace(m_staging_path, m_final_path));
    m_staging_path.clear();
    SplitPath split = TRY(split_path(m_final_path));
    TRY_CONTEXT(sync_directory(split.parent), m_final_path);
    return {};
}

Result<SporeReader> SporeReader::open(const std::string& path)
{
    std::string what = path;
    SplitPath split = TRY(split_path(path));
    struct stat status;
    if (::stat(path.c_str(), &status) < 0) {
        if (errno == ENOENT)
            return Error::not_found(what + ": no such spore");
        return Error::from_errno(what);
    }
    if (!S_ISDIR(status.st_mode))
        return Error::invalid(what + ": not a spore (not a directory)");
    if (is_staging_name(split.name))
        return Error::invalid(what + ": not a spore (an unfinished staging directory)");

    std::string manifest_path = child(path, kManifestFileName);
    if (::lstat(manifest_path.c_str(), &status) < 0 && errno == ENOENT)
        return Error::invalid(what + ": not a spore (no manifest.json)");
    auto bytes = TRY_CONTEXT(read_file(manifest_path, kMaxManifestSize), what);
    std::string_view text(reinterpret_cast<const char*>(bytes.data()), bytes.size());
    Manifest manifest = TRY_CONTEXT(parse_manifest(text), what);

    auto chunks = ChunkStore::open(child(path, kChunksDirectoryName), false);
    if (!chunks && chunks.error().code() == ErrorCode::NotFound)
        return Error::invalid(what + ": not a spore (no chunks directory)");
    if (!chunks)
        return chunks.error().with_context(what);
    TRY_CONTEXT(check_chunks_present(manifest.memory, *chunks), what);
    return SporeReader(path, std::move(manifest), std::move(chunks).value());
}

} // namespace spore
