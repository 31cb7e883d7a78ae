#include "bundle/oci_layout.h"

#include <fcntl.h>
#include <sys/stat.h>

#include "common/file.h"
#include "common/unique_fd.h"
#include "spore/digest.h"
#include "spore/durable_file.h"

namespace spore::bundle {
namespace {

std::string child(const std::string& parent, std::string_view name)
{
    return parent + (parent.ends_with('/') ? "" : "/") + std::string(name);
}

std::span<const uint8_t> as_bytes(std::string_view text)
{
    return {reinterpret_cast<const uint8_t*>(text.data()), text.size()};
}

std::string_view as_text(std::span<const uint8_t> bytes)
{
    return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
}

// Opens the blob file itself, never a symlink: a blob is bytes in the
// bundle, not a pointer to somewhere else on this host.
Result<UniqueFd> open_blob(const std::string& bundle, const std::string& digest)
{
    std::string what = "blob " + digest;
    std::string path
        = child(child(bundle, kBlobsDirectoryName), digest.substr(kDigestPrefix.size()));
    UniqueFd file(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
    if (!file.valid() && errno == ENOENT)
        return Error::not_found(what + " is missing");
    if (!file.valid() && errno == ELOOP)
        return Error::invalid(what + " is a symlink");
    if (!file.valid())
        return Error::from_errno(what);
    struct stat status;
    if (::fstat(file.get(), &status) < 0)
        return Error::from_errno(what);
    if (!S_ISREG(status.st_mode))
        return Error::invalid(what + " is not a regular file");
    return file;
}

Result<void> check_size(const std::string& digest, uint64_t actual, uint64_t expected)
{
    if (actual < expected) {
        return Error::invalid("blob " + digest + " is truncated (" + std::to_string(actual) + " of "
            + std::to_string(expected) + " bytes)");
    }
    if (actual > expected) {
        return Error::invalid("blob " + digest + " is too long (" + std::to_string(actual)
            + " bytes, expected " + std::to_string(expected) + ")");
    }
    return {};
}

Result<void> write_small_file(
    const std::string& directory, std::string_view name, std::string_view text)
{
    UniqueFd fd(::open(directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!fd.valid())
        return Error::from_errno(directory);
    return write_file_atomically(fd.get(), directory, std::string(name), as_bytes(text), 0644);
}

} // namespace

Result<BundleReader> BundleReader::open(const std::string& path)
{
    struct stat status;
    if (::stat(path.c_str(), &status) < 0) {
        if (errno == ENOENT)
            return Error::not_found(path + ": no such bundle");
        return Error::from_errno(path);
    }
    if (!S_ISDIR(status.st_mode))
        return Error::invalid(path + ": not a bundle (not a directory)");
    if (is_in_staging(path))
        return Error::invalid(path + ": not a bundle (an unfinished staging directory)");

    std::string layout_path = child(path, kLayoutFileName);
    if (::lstat(layout_path.c_str(), &status) < 0 && errno == ENOENT)
        return Error::invalid(path + ": not a bundle (no oci-layout)");
    auto layout = TRY_CONTEXT(read_file(layout_path, kMaxLayoutFileSize), path);
    TRY_CONTEXT(parse_layout_file(as_text(layout)), path);

    std::string index_path = child(path, kIndexFileName);
    if (::lstat(index_path.c_str(), &status) < 0 && errno == ENOENT)
        return Error::invalid(path + ": not a bundle (no index.json)");
    // Bounded before reading, so a huge file costs nothing.
    auto index_bytes = read_file(index_path, kMaxIndexSize);
    if (!index_bytes)
        return index_bytes.error().with_context(path);
    ImageIndex index = TRY_CONTEXT(parse_index(as_text(*index_bytes)), path);
    ChunkStore blobs = TRY_CONTEXT(ChunkStore::open(child(path, kBlobsDirectoryName), false), path);
    return BundleReader(path, std::move(index), digest_of(*index_bytes), std::move(blobs));
}

Result<void> BundleReader::verify_blob(
    const Descriptor& descriptor, std::vector<uint8_t>& buffer) const
{
    const std::string& digest = descriptor.digest;
    UniqueFd file = TRY_CONTEXT(open_blob(m_path, digest), m_path);
    struct stat status;
    if (::fstat(file.get(), &status) < 0)
        return Error::from_errno(m_path + ": blob " + digest);
    TRY_CONTEXT(check_size(digest, static_cast<uint64_t>(status.st_size), descriptor.size), m_path);

    buffer.resize(descriptor.size);
    TRY_CONTEXT(pread_fully(file.get(), buffer, 0, "blob " + digest), m_path);
    std::string actual = digest_of(buffer);
    if (actual != digest)
        return Error::invalid(
            m_path + ": blob " + digest + " is corrupt: content hashes to " + actual);
    return {};
}

Result<std::vector<uint8_t>> BundleReader::read_blob(
    const Descriptor& descriptor, uint64_t limit) const
{
    if (descriptor.size > limit) {
        return Error::invalid(m_path + ": blob " + descriptor.digest + ": "
            + std::to_string(descriptor.size) + " bytes is over the limit of "
            + std::to_string(limit));
    }
    std::vector<uint8_t> bytes;
    TRY(verify_blob(descriptor, bytes));
    return bytes;
}

Result<BundleWriter> BundleWriter::begin(const std::string& final_path)
{
    StagingDirectory staging = TRY(StagingDirectory::begin(final_path));
    std::string blobs_path = child(staging.path(), kBlobsDirectoryName);
    TRY_CONTEXT(make_directories(blobs_path, 0755), staging.final_path());
    ChunkStore blobs = TRY_CONTEXT(ChunkStore::open(blobs_path, false), staging.final_path());
    return BundleWriter(std::move(staging), std::move(blobs));
}

Result<Descriptor> BundleWriter::put_blob(
    std::span<const uint8_t> bytes, std::string_view media_type)
{
    std::string digest = TRY_CONTEXT(m_blobs.put(bytes), m_staging.final_path());
    return Descriptor{std::string(media_type), std::move(digest), bytes.size(), {}, {}};
}

Result<Descriptor> BundleWriter::add_chunk(
    const ChunkStore& from, const std::string& digest, uint64_t size, std::vector<uint8_t>& buffer)
{
    Descriptor descriptor{std::string(kChunkMediaType), digest, size, {}, {}};
    if (m_chunks.contains(digest))
        return descriptor;
    if (size > kMaxChunkFileSize)
        return Error::invalid("chunk " + digest + " is larger than the chunk size limit");
    buffer.resize(size);
    TRY_CONTEXT(from.read_verified(digest, buffer), from.path());
    TRY_CONTEXT(m_blobs.link_from(from, digest), m_staging.final_path());
    m_chunks.insert(digest);
    return descriptor;
}

Result<std::string> BundleWriter::commit(const ImageIndex& index)
{
    const std::string& what = m_staging.final_path();
    if (m_staging.path().empty())
        return Error::invalid(what + ": already committed");
    std::string text = serialize_index(index);
    if (text.size() > kMaxIndexSize) {
        return Error::invalid(what + ": index.json would be " + std::to_string(text.size())
            + " bytes, over the limit of " + std::to_string(kMaxIndexSize));
    }

    // The index is also a blob, so the bundle digest names a blob and the
    // layout can be pushed or referenced by digest like any OCI content.
    Descriptor index_blob = TRY(put_blob(as_bytes(text), kIndexMediaType));
    TRY_CONTEXT(write_small_file(m_staging.path(), kIndexFileName, text), what);
    TRY_CONTEXT(write_small_file(m_staging.path(), kLayoutFileName, serialize_layout_file()), what);

    // Linked chunks were durable already; their new names, every blob
    // written here and the directories holding them must reach the disk
    // before the rename makes the bundle visible.
    TRY_CONTEXT(m_blobs.sync(), what);
    TRY_CONTEXT(sync_directory(child(m_staging.path(), "blobs")), what);
    TRY_CONTEXT(sync_directory(m_staging.path()), what);
    TRY(m_staging.publish());
    return index_blob.digest;
}

} // namespace spore::bundle
