#pragma once

#include <chrono>
#include <optional>

#include "common/error.h"
#include "exec/protocol.h"

namespace spore::exec {

// A point in time after which the host gives up on the guest.
using Deadline = std::chrono::steady_clock::time_point;

// Runs request through the guest agent at the other end of connection_fd (a
// connected stream socket, already open to the agent's port) and returns how
// the command ended.
//
// The command's stdout and stderr bytes go to stdout_fd and stderr_fd
// exactly as the guest produced them; -1 discards a stream. A reader that
// goes away (EPIPE) only stops delivery to that fd: the output is still
// drained and the exit status still returned. An ERROR frame, a protocol
// violation, or the connection closing before EXIT is an Error. With a
// deadline, waiting on the guest past it is a Timeout error; a blocking
// write to a stalled stdout_fd is not bounded by it.
//
// SIGPIPE is blocked on the calling thread for the duration of the call.
// The caller keeps ownership of all three fds.
Result<ExitStatus> run_remote_command(int connection_fd, const ExecRequest& request, int stdout_fd,
    int stderr_fd, std::optional<Deadline> deadline = std::nullopt);

} // namespace spore::exec
