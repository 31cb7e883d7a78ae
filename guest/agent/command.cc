#include "guest/agent/command.h"

#include <fcntl.h>
#include <linux/close_range.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <unordered_map>

namespace spore::agent {
namespace {

// Which step of starting the command failed, as the child reports it.
enum class LaunchStage : int {
    Setup = 1,
    ChangeDirectory = 2,
    Execute = 3,
};

// What the child writes to the report pipe when it cannot exec.
struct LaunchReport {
    LaunchStage stage;
    int error;
};

// Everything the child needs, built before vfork(): between vfork() and
// exec only async-signal-safe calls are allowed.
struct LaunchPlan {
    std::vector<std::string> environment;
    std::vector<std::string> candidates;
    std::vector<char*> argv;
    std::vector<char*> shell_argv; // "/bin/sh CANDIDATE ARGS..." for scripts without #!
    std::vector<char*> envp;
    const char* working_directory = "/";
};

// The descriptors the child moves onto 0, 1 and 2, and its report pipe.
struct ChildFds {
    int input;
    int output;
    int errors;
    int report;
};

struct Pipe {
    UniqueFd read;
    UniqueFd write;
};

std::vector<char*> pointers_to(std::vector<std::string>& strings)
{
    std::vector<char*> pointers;
    for (auto& text : strings)
        pointers.push_back(text.data());
    pointers.push_back(nullptr);
    return pointers;
}

std::string path_of(const std::vector<std::string>& environment)
{
    for (const auto& entry : environment) {
        if (entry.starts_with("PATH="))
            return entry.substr(5);
    }
    return "";
}

LaunchPlan make_plan(const exec::ExecRequest& request, std::vector<std::string>& argv)
{
    LaunchPlan plan;
    plan.environment = command_environment(request.environment);
    plan.candidates = search_candidates(argv[0], path_of(plan.environment));
    plan.argv = pointers_to(argv);
    plan.envp = pointers_to(plan.environment);

    static char shell[] = "/bin/sh";
    plan.shell_argv = {shell, nullptr};
    plan.shell_argv.insert(plan.shell_argv.end(), plan.argv.begin() + 1, plan.argv.end());
    plan.working_directory = request.working_directory.c_str();
    return plan;
}

[[noreturn]] void report_and_exit(int report_fd, LaunchStage stage, int error)
{
    LaunchReport report{stage, error};
    // Nothing is left to do if the report cannot be written; the exit code still tells.
    [[maybe_unused]] ssize_t written = ::write(report_fd, &report, sizeof report);
    bool not_found = stage == LaunchStage::Execute && error == ENOENT;
    _exit(static_cast<int>(not_found ? kExitNotFound : kExitCannotRun));
}

// The errors after which execvp() goes on to the next PATH element.
bool try_next_candidate(int error)
{
    return error == ENOENT || error == ENOTDIR || error == ESTALE || error == ENODEV
        || error == ETIMEDOUT || error == EACCES;
}

[[noreturn]] void execute(LaunchPlan& plan, int report_fd)
{
    bool denied = false;
    for (auto& candidate : plan.candidates) {
        ::execve(candidate.c_str(), plan.argv.data(), plan.envp.data());
        int error = errno;
        if (error == ENOEXEC) {
            plan.shell_argv[1] = candidate.data();
            ::execve(plan.shell_argv[0], plan.shell_argv.data(), plan.envp.data());
            error = errno;
        }
        denied = denied || error == EACCES;
        if (!try_next_candidate(error))
            report_and_exit(report_fd, LaunchStage::Execute, error);
    }
    report_and_exit(report_fd, LaunchStage::Execute, denied ? EACCES : ENOENT);
}

// Runs in the vfork()ed child, which borrows the agent's memory until it
// execs: only async-signal-safe calls, and nothing the agent would see.
[[noreturn]] void run_child(LaunchPlan& plan, const ChildFds& fds)
{
    // The command must not inherit the agent's blocked signals or
    // dispositions. Dispositions first: a signal that arrived between the
    // two would otherwise run a handler on the agent's memory.
    for (int signal_number = 1; signal_number < NSIG; signal_number++)
        ::signal(signal_number, SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    setsid();

    // Lift all three above 2 first, so no dup2() overwrites a source still needed.
    int sources[3] = {fds.input, fds.output, fds.errors};
    for (int target = 0; target < 3; target++) {
        int lifted = fcntl(sources[target], F_DUPFD_CLOEXEC, 3);
        if (lifted < 0)
            report_and_exit(fds.report, LaunchStage::Setup, errno);
        sources[target] = lifted;
    }
    for (int target = 0; target < 3; target++) {
        if (dup2(sources[target], target) < 0)
            report_and_exit(fds.report, LaunchStage::Setup, errno);
    }
    // Descriptors the agent's host process opened without O_CLOEXEC stay out of the command.
    close_range(3, ~0U, CLOSE_RANGE_CLOEXEC);

    if (chdir(plan.working_directory) != 0)
        report_and_exit(fds.report, LaunchStage::ChangeDirectory, errno);
    execute(plan, fds.report);
}

Result<Pipe> make_pipe()
{
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0)
        return Error::from_errno("spore-agent: pipe2");
    return Pipe{UniqueFd(fds[0]), UniqueFd(fds[1])};
}

Result<void> set_nonblocking(int fd)
{
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
        return Error::from_errno("spore-agent: fcntl O_NONBLOCK");
    return {};
}

} // namespace

std::vector<std::string> command_environment(const std::vector<std::string>& request_environment)
{
    std::vector<std::string> environment{"HOME=/root", std::string("PATH=") + kDefaultPath};
    std::unordered_map<std::string, size_t> index_of{{"HOME", 0}, {"PATH", 1}};
    for (const auto& entry : request_environment) {
        std::string name = entry.substr(0, entry.find('='));
        auto [position, inserted] = index_of.try_emplace(name, environment.size());
        if (inserted)
            environment.push_back(entry);
        else
            environment[position->second] = entry;
    }
    return environment;
}

std::vector<std::string> search_candidates(const std::string& program, const std::string& path)
{
    if (program.find('/') != std::string::npos)
        return {program};
    std::vector<std::string> candidates;
    size_t start = 0;
    while (true) {
        size_t colon = path.find(':', start);
        std::string directory = path.substr(start, colon - start);
        candidates.push_back((directory.empty() ? "." : directory) + "/" + program);
        if (colon == std::string::npos)
            return candidates;
        start = colon + 1;
    }
}

Result<SpawnedCommand> spawn_command(const exec::ExecRequest& request)
{
    std::vector<std::string> argv = request.argv;
    LaunchPlan plan = make_plan(request, argv);

    UniqueFd input(::open("/dev/null", O_RDONLY | O_CLOEXEC));
    if (!input.valid())
        return Error::from_errno("spore-agent: open /dev/null");
    Pipe output = TRY(make_pipe());
    Pipe errors = TRY(make_pipe());
    Pipe report = TRY(make_pipe());
    TRY(set_nonblocking(output.read.get()));
    TRY(set_nonblocking(errors.read.get()));
    TRY(set_nonblocking(report.read.get()));

    // vfork, not fork: the agent's page tables are not copied and its pages
    // take no copy-on-write faults afterwards, which is most of the cost of
    // starting a short command in a guest.
    pid_t pid = vfork();
    if (pid < 0)
        return Error::from_errno("spore-agent: vfork");
    if (pid == 0)
        run_child(plan, {input.get(), output.write.get(), errors.write.get(), report.write.get()});
    return SpawnedCommand{
        pid, std::move(output.read), std::move(errors.read), std::move(report.read)};
}

std::optional<std::string> launch_failure(
    int report_fd, const std::string& program, const std::string& working_directory)
{
    LaunchReport report{};
    ssize_t received;
    do {
        received = ::read(report_fd, &report, sizeof report);
    } while (received < 0 && errno == EINTR);
    if (received != sizeof report)
        return std::nullopt;

    std::string subject = program;
    if (report.stage == LaunchStage::ChangeDirectory)
        subject = "cd " + working_directory;
    else if (report.stage == LaunchStage::Setup)
        subject = "setting up stdio";
    return "spore-agent: " + subject + ": " + std::strerror(report.error) + "\n";
}

exec::ExitStatus exit_status_of(int wait_status)
{
    if (WIFSIGNALED(wait_status)) {
        auto signal_number = static_cast<uint32_t>(WTERMSIG(wait_status));
        return {128 + signal_number, signal_number};
    }
    return {static_cast<uint32_t>(WEXITSTATUS(wait_status)), 0};
}

void kill_command(pid_t pid)
{
    if (pid <= 0)
        return;
    ::kill(-pid, SIGKILL);
    ::kill(pid, SIGKILL);
}

} // namespace spore::agent
