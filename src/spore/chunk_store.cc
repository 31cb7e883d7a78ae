#include "spore/chunk_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <vector>

#include "spore/digest.h"
#include "spore/durable_file.h"

namespace spore {

Result<ChunkStore> ChunkStore::open(const std::string& path, bool create)
{
    if (create && ::mkdir(path.c_str(), 0755) < 0 && errno != EEXIST)
        return Error::from_errno("chunk store: " + path);
    UniqueFd directory(::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!directory.valid() && errno == ENOENT)
        return Error::not_found("chunk store: " + path + ": no such directory");
    if (!directory.valid())
        return Error::from_errno("chunk store: " + path);
    return ChunkStore(path, std::move(directory));
}

Result<std::string> ChunkStore::file_name(const std::string& digest)
{
    if (!is_valid_digest(digest)) {
        return Error::invalid(
            "chunk store: \"" + digest.substr(0, kDigestLength) + "\" is not a sha256 digest");
    }
    return digest.substr(kDigestPrefix.size());
}

Result<uint64_t> ChunkStore::stored_size(const std::string& digest) const
{
    std::string name = TRY(file_name(digest));
    struct stat status;
    if (::fstatat(m_directory.get(), name.c_str(), &status, AT_SYMLINK_NOFOLLOW) < 0) {
        if (errno == ENOENT)
            return Error::not_found("chunk " + digest + " is missing");
        return Error::from_errno("chunk " + digest);
    }
    if (!S_ISREG(status.st_mode))
        return Error::invalid("chunk " + digest + " is not a regular file");
    return static_cast<uint64_t>(status.st_size);
}

Result<std::string> ChunkStore::put(std::span<const uint8_t> bytes)
{
    if (bytes.size() > kMaxChunkFileSize) {
        return Error::invalid("chunk store: " + std::to_string(bytes.size())
            + "-byte chunk is larger than the limit of " + std::to_string(kMaxChunkFileSize));
    }
    std::string digest = digest_of(bytes);
    // Same name means same content, so an existing file of the right size
    // is this chunk already; a damaged one is replaced by the rename below.
    auto size = stored_size(digest);
    if (size && *size == bytes.size())
        return digest;
    return write_new(bytes, digest, Durability::Synced);
}

Result<void> ChunkStore::put_verified(
    const std::string& digest, std::span<const uint8_t> bytes, Durability durability)
{
    if (bytes.size() > kMaxChunkFileSize) {
        return Error::invalid("chunk store: " + std::to_string(bytes.size())
            + "-byte chunk is larger than the limit of " + std::to_string(kMaxChunkFileSize));
    }
    TRY(write_new(bytes, digest, durability));
    return {};
}

Result<std::string> ChunkStore::write_new(
    std::span<const uint8_t> bytes, const std::string& digest, Durability durability)
{
    std::string name = TRY(file_name(digest));
    TRY_CONTEXT(write_file_atomically(m_directory.get(), m_path, name, bytes, 0644, durability),
        "chunk store");
    return digest;
}

Result<void> ChunkStore::read_verified(const std::string& digest, std::span<uint8_t> out) const
{
    std::string name = TRY(file_name(digest));
    if (out.size() > kMaxChunkFileSize)
        return Error::invalid("chunk " + digest + " is larger than the chunk size limit");
    UniqueFd file(::openat(m_directory.get(), name.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
    if (!file.valid() && errno == ENOENT)
        return Error::not_found("chunk " + digest + " is missing");
    if (!file.valid())
        return Error::from_errno("chunk " + digest);

    struct stat status;
    if (::fstat(file.get(), &status) < 0)
        return Error::from_errno("chunk " + digest);
    if (!S_ISREG(status.st_mode))
        return Error::invalid("chunk " + digest + " is not a regular file");
    auto size = static_cast<uint64_t>(status.st_size);
    if (size < out.size()) {
        return Error::invalid("chunk " + digest + " is truncated (" + std::to_string(size) + " of "
            + std::to_string(out.size()) + " bytes)");
    }
    if (size > out.size()) {
        return Error::invalid("chunk " + digest + " is too long (" + std::to_string(size)
            + " bytes, expected " + std::to_string(out.size()) + ")");
    }

    TRY(pread_fully(file.get(), out, 0, "chunk " + digest));
    std::string actual = digest_of(out);
    if (actual != digest)
        return Error::invalid("chunk " + digest + " is corrupt: content hashes to " + actual);
    return {};
}

Result<void> ChunkStore::check_stored(const std::string& digest, uint64_t size) const
{
    uint64_t stored = TRY(stored_size(digest));
    if (stored < size) {
        return Error::invalid("chunk " + digest + " is truncated (" + std::to_string(stored)
            + " of " + std::to_string(size) + " bytes)");
    }
    if (stored > size) {
        return Error::invalid("chunk " + digest + " is too long (" + std::to_string(stored)
            + " bytes, expected " + std::to_string(size) + ")");
    }
    return {};
}

bool ChunkStore::contains(const std::string& digest) const
{
    return stored_size(digest).has_value();
}

Result<void> ChunkStore::link_from(const ChunkStore& other, const std::string& digest)
{
    std::string name = TRY(file_name(digest));
    if (contains(digest))
        return {};
    if (::linkat(other.m_directory.get(), name.c_str(), m_directory.get(), name.c_str(), 0) == 0)
        return {};
    if (errno == EEXIST)
        return {};
    if (errno == ENOENT)
        return Error::not_found("chunk " + digest + " is missing from " + other.m_path);
    // Links fail across file systems (EXDEV), past a link limit (EMLINK) or
    // where a file system or policy forbids them (EPERM); a copy always works.
    return copy_from(other, digest);
}

Result<void> ChunkStore::copy_from(const ChunkStore& other, const std::string& digest)
{
    uint64_t size = TRY(other.stored_size(digest));
    if (size > kMaxChunkFileSize)
        return Error::invalid("chunk " + digest + " is larger than the chunk size limit");
    std::vector<uint8_t> bytes(size);
    TRY(other.read_verified(digest, bytes));
    TRY(put(bytes));
    return {};
}

Result<void> ChunkStore::sync() const
{
    return sync_file(m_directory.get(), "chunk store: " + m_path);
}

Result<void> ChunkStore::sync_file_system() const
{
    return spore::sync_file_system(m_directory.get(), "chunk store: " + m_path);
}

} // namespace spore
