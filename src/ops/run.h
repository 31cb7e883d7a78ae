#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "arch/aarch64/board.h"
#include "common/error.h"

namespace spore {

// Everything `spore run` needs to boot a throwaway VM and run one command.
struct RunOptions {
    unsigned cpus = 1;
    uint64_t memory = board::default_ram_size;
    std::optional<std::string> kernel; // the managed kernel when absent
    std::optional<std::string> initrd; // the embedded initrd when absent
    std::optional<std::string> console_log; // kept; otherwise removed on success
    std::vector<std::string> environment; // NAME=value
    std::string working_directory = "/";
    std::vector<std::string> argv;
    std::chrono::seconds boot_timeout{60};
    bool verbose_kernel = false;
};

// Boots a VM, runs argv in it through the guest agent, streams its stdout
// and stderr to ours, and returns its exit status. Every failure before the
// command runs (assets, KVM, boot, agent) is an Error.
Result<int> run_command(const RunOptions& options);

} // namespace spore
