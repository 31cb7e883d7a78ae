#include "guest/agent/system_setup.h"

#include <fcntl.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <span>

#include "common/unique_fd.h"
#include "guest/agent/command.h"

namespace spore::agent {
namespace {

constexpr const char* kHostname = "spore";

struct MountPoint {
    const char* type;
    const char* target;
    unsigned long flags;
    const char* options;
    mode_t directory_mode;
};

// Mounted in order; /dev comes first because the console lives there.
constexpr MountPoint kMountPoints[] = {
    {"devtmpfs", "/dev", MS_NOSUID, "mode=0755", 0755},
    {"proc", "/proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr, 0555},
    {"sysfs", "/sys", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr, 0555},
    {"devpts", "/dev/pts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620", 0755},
    {"tmpfs", "/dev/shm", MS_NOSUID | MS_NODEV, "mode=1777", 01777},
    {"tmpfs", "/tmp", MS_NOSUID | MS_NODEV, "mode=1777", 01777},
    {"tmpfs", "/run", MS_NOSUID | MS_NODEV, "mode=0755", 0755},
    {"cgroup2", "/sys/fs/cgroup", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr, 0755},
};

// Links that udev would create and that shells and scripts expect.
constexpr const char* kDeviceLinks[][2] = {
    {"/proc/self/fd", "/dev/fd"},
    {"/proc/self/fd/0", "/dev/stdin"},
    {"/proc/self/fd/1", "/dev/stdout"},
    {"/proc/self/fd/2", "/dev/stderr"},
    {"pts/ptmx", "/dev/ptmx"},
};

void report(const char* what, const char* value, int error)
{
    std::fprintf(stderr, "spore-agent: %s %s: %s\n", what, value, std::strerror(error));
}

void mount_one(const MountPoint& point)
{
    // Most targets exist in the initramfs or in sysfs already; EEXIST is the usual answer.
    if (mkdir(point.target, point.directory_mode) != 0 && errno != EEXIST)
        report("mkdir", point.target, errno);
    if (mount(point.type, point.target, point.type, point.flags, point.options) != 0)
        report("mount", point.target, errno);
}

// The initramfs has no /dev/console node, so the kernel could not give
// PID 1 any stdio; now that devtmpfs is mounted the console exists.
void open_console()
{
    int console = open("/dev/console", O_RDWR | O_NOCTTY);
    if (console < 0)
        return;
    for (int target = 0; target < 3; target++) {
        if (console != target)
            dup2(console, target);
    }
    if (console > 2)
        close(console);
}

void link_devices()
{
    for (const auto& [target, link] : kDeviceLinks) {
        // devtmpfs may already provide the node (it does for /dev/ptmx).
        if (access(link, F_OK) != 0 && symlink(target, link) != 0)
            report("symlink", link, errno);
    }
}

void bring_up_loopback()
{
    UniqueFd socket_fd(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    if (!socket_fd.valid())
        return; // a kernel without IPv4 has no loopback to bring up
    ifreq request{};
    std::strncpy(request.ifr_name, "lo", IFNAMSIZ - 1);
    if (ioctl(socket_fd.get(), SIOCGIFFLAGS, &request) != 0) {
        report("ioctl SIOCGIFFLAGS", "lo", errno);
        return;
    }
    request.ifr_flags |= IFF_UP | IFF_RUNNING;
    if (ioctl(socket_fd.get(), SIOCSIFFLAGS, &request) != 0)
        report("ioctl SIOCSIFFLAGS", "lo", errno);
}

} // namespace

void prepare_system()
{
    umask(022);
    mount_one(kMountPoints[0]);
    open_console();
    for (const auto& point : std::span(kMountPoints).subspan(1))
        mount_one(point);
    link_devices();

    if (sethostname(kHostname, std::strlen(kHostname)) != 0)
        report("sethostname", kHostname, errno);
    bring_up_loopback();

    setenv("PATH", kDefaultPath, 1);
    setenv("HOME", "/root", 1);
    if (chdir("/") != 0)
        report("chdir", "/", errno);
}

} // namespace spore::agent
