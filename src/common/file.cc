#include "common/file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/unique_fd.h"

namespace spore {

Result<std::vector<uint8_t>> read_file(const std::string& path, uint64_t max_size)
{
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd.valid())
        return Error::from_errno(path);
    struct stat status;
    if (fstat(fd.get(), &status) < 0)
        return Error::from_errno(path);
    if (!S_ISREG(status.st_mode))
        return Error::invalid(path + ": not a regular file");
    if (static_cast<uint64_t>(status.st_size) > max_size)
        return Error::invalid(path + ": larger than the limit of " + std::to_string(max_size) + " bytes");

    std::vector<uint8_t> bytes(static_cast<size_t>(status.st_size));
    size_t done = 0;
    while (done < bytes.size()) {
        ssize_t count = ::read(fd.get(), bytes.data() + done, bytes.size() - done);
        if (count < 0 && errno == EINTR)
            continue;
        if (count < 0)
            return Error::from_errno(path);
        if (count == 0)
            return Error::invalid(path + ": file shrank while being read");
        done += static_cast<size_t>(count);
    }
    return bytes;
}

} // namespace spore
