#pragma once

// A bundle directory on this host used as a remote: pulling from it reads
// its blobs, pushing to it copies blobs in and writes index.json last, so
// the directory reads as a bundle only once everything is there.

#include <memory>
#include <string>

#include "common/error.h"
#include "remote/location.h"
#include "remote/remote.h"

namespace spore::remote {

class DirectoryRemote final : public Remote {
public:
    // For pushing, the directory is created if missing.
    static Result<std::unique_ptr<DirectoryRemote>> create(const Location& location);

    const std::string& describe() const override { return m_path; }
    Result<void> fetch(
        const ContentRef& content, uint64_t max_size, std::vector<uint8_t>& out) override;
    Result<bool> contains(const ContentRef& content, uint64_t size) override;
    Result<void> store(const ContentRef& content, std::span<const uint8_t> bytes) override;
    Result<void> publish_index(const ContentRef& index, std::span<const uint8_t> bytes) override;

private:
    explicit DirectoryRemote(std::string path)
        : m_path(std::move(path))
    {
    }

    std::string m_path;
};

} // namespace spore::remote
