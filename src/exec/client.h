#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "common/error.h"
#include "exec/protocol.h"

namespace spore::exec {

// A point in time after which the host gives up on the guest.
using Deadline = std::chrono::steady_clock::time_point;

// How far the host has taken a session's output. The exchange functions
// keep it current as frames arrive, so after an exchange ends early (the
// connection dropped at a capture, a deadline passed) it says exactly where
// attach_remote_session() must continue. It is written only by the calling
// thread, during the call.
struct SessionProgress {
    std::string session_id; // empty until STARTED arrived
    uint64_t stdout_offset = 0; // stdout bytes written to stdout_fd (or discarded)
    uint64_t stderr_offset = 0; // stderr bytes written to stderr_fd (or discarded)
    uint64_t lost_bytes = 0; // bytes of both streams the agent no longer had (LOST)
};

// Callbacks into the caller during an exchange, run on the calling thread.
// Either may be empty.
struct SessionObserver {
    // STARTED arrived; runs before any output of the session is written.
    std::function<void(const std::string& session_id)> started;
    // The agent no longer had bytes [from, to) of stream (Stdout or Stderr);
    // the stream continues at to.
    std::function<void(FrameType stream, uint64_t from, uint64_t to)> output_lost;
};

// The host's wall clock in nanoseconds since the unix epoch, for
// HostParameters::time_ns.
int64_t wall_clock_ns();

// Runs request through the guest agent at the other end of connection_fd (a
// connected stream socket, already open to the agent's port) and returns how
// the command ended.
//
// The command's stdout and stderr bytes go to stdout_fd and stderr_fd
// exactly as the guest produced them; -1 discards a stream. A reader that
// goes away (EPIPE) only stops delivery to that fd: the output is still
// drained and the exit status still returned. An ERROR frame, a protocol
// violation, or the connection closing before EXIT is an Error; the command
// then goes on in the guest and attach_remote_session() can pick it up from
// *progress, which starts out empty and is kept current (see
// SessionProgress). With a deadline, waiting on the guest past it is a
// Timeout error; a blocking write to a stalled stdout_fd is not bounded by
// it.
//
// After EXIT an ACK goes out, which tells the agent the status arrived so
// it can forget the session, and the sending direction of connection_fd is
// shut down.
// SIGPIPE is blocked on the calling thread for the duration of the call.
// The caller keeps ownership of all three fds.
Result<ExitStatus> run_remote_command(int connection_fd, const ExecRequest& request, int stdout_fd,
    int stderr_fd, std::optional<Deadline> deadline = std::nullopt,
    SessionProgress* progress = nullptr, const SessionObserver& observer = {});

// Resumes a session whose earlier exchange ended before EXIT: the agent
// replays the output from the request's offsets, streams the rest and sends
// the exit status, which this returns. *progress starts from the request's
// session id and offsets (its lost_bytes is added to) and is kept current
// as in run_remote_command(), whose other rules apply here too. An unknown
// session is a Guest error ("... no such session ID").
Result<ExitStatus> attach_remote_session(int connection_fd, const AttachRequest& request,
    int stdout_fd, int stderr_fd, std::optional<Deadline> deadline = std::nullopt,
    SessionProgress* progress = nullptr, const SessionObserver& observer = {});

} // namespace spore::exec
