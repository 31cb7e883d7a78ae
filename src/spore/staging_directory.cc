#include "spore/staging_directory.h"

#include <fcntl.h>
#include <sys/stat.h>

#include <cstdio>
#include <filesystem>
#include <utility>

#include "spore/durable_file.h"

namespace spore {
namespace {

constexpr std::string_view kStagingMarker = ".staging-";

std::string_view without_trailing_slashes(std::string_view path)
{
    while (path.size() > 1 && path.back() == '/')
        path.remove_suffix(1);
    return path;
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

} // namespace

bool is_staging_name(std::string_view basename)
{
    return basename.starts_with('.') && basename.find(kStagingMarker) != std::string_view::npos;
}

std::string_view base_name(std::string_view path)
{
    path = without_trailing_slashes(path);
    size_t slash = path.rfind('/');
    return slash == std::string_view::npos || path.size() == 1 ? path : path.substr(slash + 1);
}

bool is_in_staging(std::string_view path)
{
    path = without_trailing_slashes(path);
    if (is_staging_name(base_name(path)))
        return true;
    size_t slash = path.rfind('/');
    return slash != std::string_view::npos && slash > 0
        && is_staging_name(base_name(path.substr(0, slash)));
}

Result<StagingDirectory> StagingDirectory::begin(const std::string& final_path)
{
    std::string target(without_trailing_slashes(final_path));
    std::string_view name = base_name(target);
    if (name.empty() || name == "." || name == ".." || name == "/")
        return Error::invalid("\"" + final_path + "\": not a usable path");
    if (is_staging_name(name))
        return Error::invalid(target + ": name is reserved for staging directories");
    std::string parent = target.size() == name.size()
        ? std::string(".")
        : target.substr(0, std::max<size_t>(target.size() - name.size() - 1, 1));

    struct stat status;
    if (::lstat(target.c_str(), &status) == 0)
        return already_exists(target);
    if (errno != ENOENT)
        return Error::from_errno(target);

    std::string path = parent + (parent.ends_with('/') ? "" : "/") + "." + std::string(name)
        + std::string(kStagingMarker) + unique_suffix();
    if (::mkdir(path.c_str(), 0755) < 0)
        return Error::from_errno(target + ": staging directory " + path);
    return StagingDirectory(std::move(target), std::move(parent), std::move(path));
}

StagingDirectory::StagingDirectory(StagingDirectory&& other) noexcept
    : m_final_path(std::move(other.m_final_path))
    , m_parent(std::move(other.m_parent))
    , m_path(std::exchange(other.m_path, {}))
{
}

StagingDirectory::~StagingDirectory()
{
    if (m_path.empty())
        return;
    std::error_code ignored;
    std::filesystem::remove_all(m_path, ignored);
}

Result<void> StagingDirectory::publish()
{
    if (m_path.empty())
        return Error::invalid(m_final_path + ": already published");
    TRY(rename_no_replace(m_path, m_final_path));
    m_path.clear();
    TRY_CONTEXT(sync_directory(m_parent), m_final_path);
    return {};
}

} // namespace spore
