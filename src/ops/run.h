#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "arch/aarch64/board.h"
#include "common/error.h"

namespace spore {

// Everything `spore run` needs: boot a throwaway VM (or resume a spore),
// run one command, optionally capture a spore.
struct RunOptions {
    unsigned cpus = 1;
    uint64_t memory = board::default_ram_size;
    std::optional<std::string> kernel; // the managed kernel when absent
    std::optional<std::string> initrd; // the embedded initrd when absent
    std::optional<std::string> from;   // resume this spore instead of booting
    std::optional<std::string> console_log; // kept; otherwise removed on success
    std::vector<std::string> environment; // NAME=value
    std::string working_directory = "/";
    std::vector<std::string> argv;
    std::chrono::seconds boot_timeout{60};
    bool verbose_kernel = false;

    std::optional<std::string> capture;  // write a spore here
    std::optional<int> capture_signal;   // capture when this signal arrives, not at exit
    bool continue_after_capture = false; // keep running after a signal capture
};

// Runs argv in a VM through the guest agent, streams its stdout and stderr
// to ours and returns its exit status; a capture on a signal returns 0
// unless the VM continues. Every failure of the VM or the agent is an
// Error.
Result<int> run_command(const RunOptions& options);

// `spore resume DIR`: restores a spore and reattaches to the command that
// was running at capture, continuing its output where the capturing host
// left it and returning its exit status.
Result<int> resume_spore(const std::string& path, std::chrono::seconds timeout, std::optional<std::string> console_log);

} // namespace spore
