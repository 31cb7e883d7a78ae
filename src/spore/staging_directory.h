#pragma once

// Atomic publication of a directory (docs/spore-format.md, "Atomic
// publication"): everything is built in a hidden staging directory next to
// the target and renamed into place, so the target either does not exist
// or is complete. Shared by spore writers and fork batches.

#include <string>
#include <string_view>

#include "common/error.h"

namespace spore {

// Whether a directory's base name is one a writer stages in
// (".<name>.staging-<suffix>").
bool is_staging_name(std::string_view basename);

// Whether path names a staging directory or something directly inside one
// (a child of a fork batch being staged). Judged from the path's text.
bool is_in_staging(std::string_view path);

// The last component of a path, ignoring trailing slashes.
std::string_view base_name(std::string_view path);

// A staging directory that becomes final_path on publish() and is removed
// with its contents if destroyed unpublished.
class StagingDirectory {
public:
    // Creates the staging directory for final_path, refusing a final_path
    // that exists or that has a staging name.
    static Result<StagingDirectory> begin(const std::string& final_path);

    StagingDirectory(StagingDirectory&& other) noexcept;
    StagingDirectory& operator=(StagingDirectory&&) = delete;
    StagingDirectory(const StagingDirectory&) = delete;
    StagingDirectory& operator=(const StagingDirectory&) = delete;
    ~StagingDirectory();

    // Renames the staging directory to the final path, never replacing
    // anything there, then syncs the parent directory so the name is
    // durable. The caller must have made the contents durable first: the
    // rename may reach the disk before unsynced data does.
    Result<void> publish();

    // The staging directory; empty once published or moved from.
    const std::string& path() const { return m_path; }

    // Where the directory appears on publish(), without trailing slashes.
    const std::string& final_path() const { return m_final_path; }

    // The directory that holds both, "." for a bare name.
    const std::string& parent() const { return m_parent; }

private:
    StagingDirectory(std::string final_path, std::string parent, std::string path)
        : m_final_path(std::move(final_path))
        , m_parent(std::move(parent))
        , m_path(std::move(path))
    {
    }

    std::string m_final_path;
    std::string m_parent;
    std::string m_path;
};

} // namespace spore
