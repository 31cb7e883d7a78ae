#include <CLI/CLI.hpp>

#include <sys/utsname.h>
#include <unistd.h>

#include <cstdio>

#include "arch/aarch64/board.h"
#include "cli/commands.h"
#include "remote/open_remote.h"

#ifndef SPOREVM_VERSION
#define SPOREVM_VERSION "unknown"
#endif

namespace spore::cli {

namespace {

const char* kvm_status()
{
    if (access("/dev/kvm", R_OK | W_OK) == 0)
        return "usable";
    if (access("/dev/kvm", F_OK) == 0)
        return "present, not accessible";
    return "absent";
}

Result<int> print_version()
{
    utsname host{};
    uname(&host);
#if defined(__aarch64__)
    const char* backend = "kvm (aarch64)";
#else
    const char* backend = "none (spore run needs an aarch64 host with KVM)";
#endif
    std::printf("spore %s\n", SPOREVM_VERSION);
    std::printf("backend: %s\n", backend);
    std::printf("board: device model %u\n", board::device_model_version);
    std::printf("host: %s %s %s\n", host.sysname, host.release, host.machine);
    std::printf("/dev/kvm: %s\n", kvm_status());
    std::printf("remote stores: %s\n",
        remote::remote_transports_available() ? "s3, http(s), oci registries, directories"
                                              : "directories only (built without libcurl)");
    return 0;
}

} // namespace

void add_version_command(CLI::App& app, Handler& handler)
{
    auto* command = app.add_subcommand("version", "Print the version, backend and host facts");
    command->callback([&handler] { handler = print_version; });
}

} // namespace spore::cli
