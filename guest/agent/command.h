#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "common/error.h"
#include "common/unique_fd.h"
#include "exec/protocol.h"

namespace spore::agent {

// PATH for commands whose request does not set one.
inline constexpr const char* kDefaultPath
    = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

// Exit codes for commands that never ran, as POSIX shells use them.
inline constexpr uint32_t kExitNotFound = 127;
inline constexpr uint32_t kExitCannotRun = 126;

// The environment a command starts with: HOME and PATH defaults, overridden
// by the request's entries (a later entry for a name wins).
std::vector<std::string> command_environment(const std::vector<std::string>& request_environment);

// The paths execve() tries for program, searched in path like execvp():
// a name with a '/' is used as is, an empty PATH element means ".".
std::vector<std::string> search_candidates(const std::string& program, const std::string& path);

// A command forked for a request, in its own session and process group,
// with stdin on /dev/null and stdout and stderr on separate pipes. The
// caller reaps it (the agent reaps every child in one place).
struct SpawnedCommand {
    pid_t pid = -1;
    UniqueFd stdout_pipe; // read end, non-blocking
    UniqueFd stderr_pipe; // read end, non-blocking
    // Read end of the launch report: EOF once the command execs, a report
    // from a child that could not (read it with launch_failure()).
    UniqueFd report_pipe;
};

// Forks and executes request. A command that cannot start (unknown
// program, bad cwd) is still spawned: its child exits with 127 or 126 and
// its report pipe says why. Errors are the agent's own.
Result<SpawnedCommand> spawn_command(const exec::ExecRequest& request);

// The line ("spore-agent: PROGRAM: reason\n") to show on stderr when the
// command's exec failed, std::nullopt when it ran. Call after the child was
// reaped, so the report is complete and the read cannot block.
// program and working_directory are the request's argv[0] and cwd.
std::optional<std::string> launch_failure(
    int report_fd, const std::string& program, const std::string& working_directory);

// How a command ended, from a waitpid() status: 128 + signal for a signal.
exec::ExitStatus exit_status_of(int wait_status);

// Kills the whole process group of a spawned command, and the command
// itself in case it has not reached setsid() yet.
void kill_command(pid_t pid);

} // namespace spore::agent
