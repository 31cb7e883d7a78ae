#include "remote/directory_remote.h"

#include <fcntl.h>
#include <sys/stat.h>

#include "common/unique_fd.h"
#include "remote/layout_store.h"
#include "spore/digest.h"
#include "spore/durable_file.h"

namespace spore::remote {
namespace {

std::string parent_of(const std::string& path)
{
    return path.substr(0, path.rfind('/'));
}
std::string name_of(const std::string& path)
{
    return path.substr(path.rfind('/') + 1);
}

// Writes a file atomically in its directory, creating the directories.
Result<void> write_object(const std::string& path, std::span<const uint8_t> bytes)
{
    std::string directory = parent_of(path);
    TRY(make_directories(directory, 0755));
    UniqueFd fd(::open(directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!fd.valid())
        return Error::from_errno(directory);
    TRY(write_file_atomically(fd.get(), directory, name_of(path), bytes, 0644));
    return sync_directory(directory);
}

} // namespace

Result<std::unique_ptr<DirectoryRemote>> DirectoryRemote::create(const Location& location)
{
    if (location.kind != LocationKind::Directory || location.path.empty())
        return Error::invalid("not a directory location: " + location.text);
    std::string path = location.path;
    while (path.size() > 1 && path.ends_with('/'))
        path.pop_back();
    return std::unique_ptr<DirectoryRemote>(new DirectoryRemote(path));
}

Result<void> DirectoryRemote::fetch(
    const ContentRef& content, uint64_t max_size, std::vector<uint8_t>& out)
{
    if (!is_valid_digest(content.digest))
        return Error::invalid(m_path + ": \"" + content.digest + "\" is not a digest");
    std::string path = m_path + "/" + blob_object_name("", content.digest);
    // A blob is bytes in the bundle, never a symlink to elsewhere on this host.
    UniqueFd file(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
    if (!file.valid() && errno == ENOENT)
        return Error::not_found(m_path + ": blob " + content.digest + " is missing");
    if (!file.valid())
        return Error::from_errno(m_path + ": blob " + content.digest);
    struct stat status;
    if (::fstat(file.get(), &status) < 0)
        return Error::from_errno(m_path + ": blob " + content.digest);
    if (!S_ISREG(status.st_mode))
        return Error::invalid(m_path + ": blob " + content.digest + " is not a regular file");
    uint64_t size = static_cast<uint64_t>(status.st_size);
    if (size > max_size) {
        return Error::invalid(m_path + ": blob " + content.digest + " is " + std::to_string(size)
            + " bytes, over the limit of " + std::to_string(max_size));
    }
    out.resize(size);
    return pread_fully(file.get(), out, 0, m_path + ": blob " + content.digest);
}

Result<bool> DirectoryRemote::contains(const ContentRef& content, uint64_t size)
{
    if (!is_valid_digest(content.digest))
        return Error::invalid(m_path + ": \"" + content.digest + "\" is not a digest");
    std::string path = m_path + "/" + blob_object_name("", content.digest);
    struct stat status;
    if (::lstat(path.c_str(), &status) < 0) {
        if (errno == ENOENT)
            return false;
        return Error::from_errno(path);
    }
    return S_ISREG(status.st_mode) && static_cast<uint64_t>(status.st_size) == size;
}

Result<void> DirectoryRemote::store(const ContentRef& content, std::span<const uint8_t> bytes)
{
    if (!is_valid_digest(content.digest))
        return Error::invalid(m_path + ": \"" + content.digest + "\" is not a digest");
    TRY_CONTEXT(write_object(m_path + "/" + blob_object_name("", content.digest), bytes), m_path);
    return {};
}

Result<void> DirectoryRemote::publish_index(const ContentRef& index, std::span<const uint8_t> bytes)
{
    (void)index;
    std::span<const uint8_t> layout(
        reinterpret_cast<const uint8_t*>(kLayoutObjectText.data()), kLayoutObjectText.size());
    TRY_CONTEXT(write_object(m_path + "/" + std::string(kLayoutObjectName), layout), m_path);
    TRY_CONTEXT(write_object(m_path + "/" + std::string(kIndexObjectName), bytes), m_path);
    return {};
}

} // namespace spore::remote
