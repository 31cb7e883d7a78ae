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

// A command started for a request, in its own session and process group,
// with stdin on /dev/null and stdout and stderr on separate pipes.
class RunningCommand {
public:
    // Forks and executes request. A command that cannot start (unknown
    // program, bad cwd) still yields a RunningCommand: its child exits with
    // 127 or 126 and launch_failure() says why. Errors are the agent's own.
    static Result<RunningCommand> start(const exec::ExecRequest& request);

    RunningCommand(RunningCommand&& other) noexcept;
    RunningCommand& operator=(RunningCommand&&) = delete;
    RunningCommand(const RunningCommand&) = delete;
    RunningCommand& operator=(const RunningCommand&) = delete;

    // A command nobody waited for is killed and reaped, so no session leaves
    // a stray process group or a zombie behind.
    ~RunningCommand();

    // Read ends of the command's stdout and stderr, non-blocking.
    UniqueFd& stdout_pipe() { return m_stdout; }
    UniqueFd& stderr_pipe() { return m_stderr; }

    // Becomes readable when the command has exited.
    int exit_fd() const { return m_pidfd.get(); }

    // The line ("spore-agent: PROGRAM: reason\n") to show when exec failed.
    const std::optional<std::string>& launch_failure() const { return m_launch_failure; }

    // Kills the command's whole process group.
    void kill_group();

    // Waits for the command to exit and reports how it ended.
    Result<exec::ExitStatus> wait();

private:
    RunningCommand(pid_t pid, UniqueFd stdout_pipe, UniqueFd stderr_pipe)
        : m_pid(pid)
        , m_stdout(std::move(stdout_pipe))
        , m_stderr(std::move(stderr_pipe))
    {
    }

    pid_t m_pid = -1;
    UniqueFd m_pidfd;
    UniqueFd m_stdout;
    UniqueFd m_stderr;
    std::optional<std::string> m_launch_failure;
};

} // namespace spore::agent
