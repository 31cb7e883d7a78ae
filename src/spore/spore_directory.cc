#include "spore/spore_directory.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <unordered_set>
#include <utility>

#include "common/file.h"
#include "common/log.h"
#include "common/unique_fd.h"
#include "spore/durable_file.h"
#include "spore/manifest_json.h"

namespace spore {
namespace {

std::string child(const std::string& parent, std::string_view name)
{
    return parent + (parent.ends_with('/') ? "" : "/") + std::string(name);
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

// Why a spore has no usable chunk store. A dangling symlink is worth
// naming: it is what copying a fork child without its batch leaves.
Error missing_chunks(const std::string& what, const std::string& chunks_path)
{
    char target[256] = {};
    ssize_t length = ::readlink(chunks_path.c_str(), target, sizeof(target) - 1);
    if (length < 0)
        return Error::invalid(what + ": not a spore (no chunks directory)");
    return Error::invalid(what + ": chunks links to " + std::string(target, length)
        + ", which does not exist (a fork child copied without dereferencing its chunks?)");
}

} // namespace

Result<SporeWriter> SporeWriter::begin(const std::string& final_path)
{
    StagingDirectory staging = TRY(StagingDirectory::begin(final_path));
    auto chunks = ChunkStore::open(child(staging.path(), kChunksDirectoryName), true);
    if (!chunks)
        return chunks.error().with_context(staging.final_path());
    return SporeWriter(std::move(staging), std::move(chunks).value());
}

Result<void> SporeWriter::commit(const Manifest& manifest)
{
    std::string what = m_staging.final_path();
    if (m_staging.path().empty())
        return Error::invalid(what + ": already committed");
    TRY_CONTEXT(validate_manifest(manifest), what);
    TRY_CONTEXT(check_chunks_present(manifest.memory, m_chunks), what);
    TRY_CONTEXT(write_manifest(manifest), what);
    // Everything inside the staging directory must be durable before the
    // rename makes it visible, or a crash could publish an empty spore.
    TRY_CONTEXT(m_chunks.sync(), what);
    TRY_CONTEXT(sync_directory(m_staging.path()), what);
    return m_staging.publish();
}

Result<void> SporeWriter::write_manifest(const Manifest& manifest)
{
    std::string text = serialize_manifest(manifest);
    const std::string& staging_path = m_staging.path();
    UniqueFd staging(::open(staging_path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!staging.valid())
        return Error::from_errno(staging_path);
    std::span bytes(reinterpret_cast<const uint8_t*>(text.data()), text.size());
    return write_file_atomically(
        staging.get(), staging_path, std::string(kManifestFileName), bytes, 0644);
}

Result<SporeReader> SporeReader::open(const std::string& path)
{
    std::string what = path;
    std::string_view name = base_name(path);
    if (name.empty() || name == "." || name == "..")
        return Error::invalid("\"" + path + "\": not a usable spore path");
    struct stat status;
    if (::stat(path.c_str(), &status) < 0) {
        if (errno == ENOENT)
            return Error::not_found(what + ": no such spore");
        return Error::from_errno(what);
    }
    if (!S_ISDIR(status.st_mode))
        return Error::invalid(what + ": not a spore (not a directory)");
    if (is_in_staging(path))
        return Error::invalid(what + ": not a spore (an unfinished staging directory)");

    std::string manifest_path = child(path, kManifestFileName);
    if (::lstat(manifest_path.c_str(), &status) < 0 && errno == ENOENT)
        return Error::invalid(what + ": not a spore (no manifest.json)");
    auto bytes = TRY_CONTEXT(read_file(manifest_path, kMaxManifestSize), what);
    std::string_view text(reinterpret_cast<const char*>(bytes.data()), bytes.size());
    Manifest manifest = TRY_CONTEXT(parse_manifest(text), what);
    log::debug("spore", "manifest read and checked (%zu bytes)", bytes.size());

    // Opening follows a symlinked chunks/ into a batch store; the manifest
    // stays the authority and every chunk is still verified when read.
    std::string chunks_path = child(path, kChunksDirectoryName);
    auto chunks = ChunkStore::open(chunks_path, false);
    if (!chunks && chunks.error().code() == ErrorCode::NotFound)
        return missing_chunks(what, chunks_path);
    if (!chunks)
        return chunks.error().with_context(what);
    TRY_CONTEXT(check_chunks_present(manifest.memory, *chunks), what);
    return SporeReader(path, std::move(manifest), std::move(chunks).value());
}

} // namespace spore
