#include "spore/durable_file.h"

#include <fcntl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>

#include "common/sha256.h"
#include "common/unique_fd.h"

namespace spore {

Result<void> write_fully(int fd, std::span<const uint8_t> bytes, const std::string& what)
{
    size_t done = 0;
    while (done < bytes.size()) {
        ssize_t count = ::write(fd, bytes.data() + done, bytes.size() - done);
        if (count < 0 && errno == EINTR)
            continue;
        if (count < 0)
            return Error::from_errno(what);
        done += static_cast<size_t>(count);
    }
    return {};
}

Result<void> pwrite_fully(
    int fd, std::span<const uint8_t> bytes, uint64_t offset, const std::string& what)
{
    size_t done = 0;
    while (done < bytes.size()) {
        ssize_t count = ::pwrite(
            fd, bytes.data() + done, bytes.size() - done, static_cast<off_t>(offset + done));
        if (count < 0 && errno == EINTR)
            continue;
        if (count < 0)
            return Error::from_errno(what);
        done += static_cast<size_t>(count);
    }
    return {};
}

Result<void> pread_fully(int fd, std::span<uint8_t> out, uint64_t offset, const std::string& what)
{
    size_t done = 0;
    while (done < out.size()) {
        ssize_t count
            = ::pread(fd, out.data() + done, out.size() - done, static_cast<off_t>(offset + done));
        if (count < 0 && errno == EINTR)
            continue;
        if (count < 0)
            return Error::from_errno(what);
        if (count == 0)
            return Error::invalid(what + ": file shrank while being read");
        done += static_cast<size_t>(count);
    }
    return {};
}

Result<void> sync_file(int fd, const std::string& what)
{
    if (::fsync(fd) < 0)
        return Error::from_errno(what + ": fsync");
    return {};
}

Result<void> sync_directory(const std::string& path)
{
    UniqueFd directory(::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!directory.valid())
        return Error::from_errno(path);
    return sync_file(directory.get(), path);
}

Result<void> make_directories(const std::string& path, mode_t mode)
{
    // Walk the components left to right so that each parent exists before
    // its child is made; the final mkdir's errno is the one that matters.
    for (size_t end = path.find('/', 1);; end = path.find('/', end + 1)) {
        std::string prefix = path.substr(0, end);
        if (!prefix.empty() && ::mkdir(prefix.c_str(), mode) < 0 && errno != EEXIST)
            return Error::from_errno(prefix);
        if (end == std::string::npos)
            break;
    }
    struct stat status;
    if (::stat(path.c_str(), &status) < 0)
        return Error::from_errno(path);
    if (!S_ISDIR(status.st_mode))
        return Error::invalid(path + ": not a directory");
    return {};
}

Result<void> fill_random(std::span<uint8_t> bytes)
{
    size_t done = 0;
    while (done < bytes.size()) {
        ssize_t count = ::getrandom(bytes.data() + done, bytes.size() - done, 0);
        if (count < 0 && errno == EINTR)
            continue;
        if (count < 0)
            return Error::from_errno("getrandom");
        done += static_cast<size_t>(count);
    }
    return {};
}

std::string unique_suffix()
{
    static std::atomic<uint64_t> counter{0};
    uint8_t random[8] = {};
    // The pid and the counter already make the name unique; randomness only
    // keeps a recycled pid from meeting a stale file, so a failure is harmless.
    (void)fill_random(random);
    return std::to_string(::getpid()) + "-" + std::to_string(counter.fetch_add(1)) + "-"
        + to_hex(random);
}

Result<void> write_file_atomically(int directory_fd, const std::string& directory_path,
    const std::string& name, std::span<const uint8_t> bytes, mode_t mode, Durability durability)
{
    std::string temporary = "." + name + ".tmp-" + unique_suffix();
    std::string what = directory_path + "/" + name;
    UniqueFd file(
        ::openat(directory_fd, temporary.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
    if (!file.valid())
        return Error::from_errno(what);

    auto written = [&]() -> Result<void> {
        TRY(write_fully(file.get(), bytes, what));
        if (::fchmod(file.get(), mode) < 0)
            return Error::from_errno(what + ": chmod");
        if (durability == Durability::Synced)
            TRY(sync_file(file.get(), what));
        if (::renameat(directory_fd, temporary.c_str(), directory_fd, name.c_str()) < 0)
            return Error::from_errno(what + ": rename");
        return {};
    }();
    if (!written)
        ::unlinkat(directory_fd, temporary.c_str(), 0);
    return written;
}

Result<void> sync_file_system(int fd, const std::string& what)
{
    if (::syncfs(fd) < 0)
        return Error::from_errno(what + ": syncfs");
    return {};
}

} // namespace spore
