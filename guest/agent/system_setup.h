#pragma once

namespace spore::agent {

// Turns the bare initramfs into a system a workload can use, for the agent
// running as PID 1: mounts /dev, /proc, /sys, /dev/pts, /dev/shm, /tmp, /run
// and a writable cgroup2 at /sys/fs/cgroup, puts stdio on /dev/console, sets
// the hostname and brings up loopback. Each failure is reported on the
// console and skipped, since a partly prepared guest still runs most commands.
void prepare_system();

} // namespace spore::agent
