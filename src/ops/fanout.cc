#include "ops/fanout.h"

#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "common/unique_fd.h"

extern char** environ;

namespace spore {

namespace {

using Clock = std::chrono::steady_clock;
constexpr auto stop_grace = std::chrono::seconds(3);

bool is_child_name(const std::string& name)
{
    return !name.empty() && std::all_of(name.begin(), name.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// One line-prefixing stream from a child to one of our descriptors.
struct PrefixedStream {
    UniqueFd pipe;
    int destination;
    std::string pending;

    void emit(const std::string& prefix, std::string_view bytes)
    {
        std::string out;
        for (char byte : bytes) {
            pending.push_back(byte);
            if (byte == '\n') {
                out += prefix + pending;
                pending.clear();
            }
        }
        write_all(out);
    }
    void flush(const std::string& prefix)
    {
        if (!pending.empty())
            write_all(prefix + pending + "\n");
        pending.clear();
    }
    void write_all(const std::string& text) const
    {
        size_t done = 0;
        while (done < text.size()) {
            ssize_t count = ::write(destination, text.data() + done, text.size() - done);
            if (count < 0 && errno == EINTR)
                continue;
            if (count <= 0)
                return; // a closed reader only loses output
            done += static_cast<size_t>(count);
        }
    }
};

struct RunningChild {
    size_t index;
    pid_t pid;
    std::string prefix;
    PrefixedStream out;
    PrefixedStream err;
    Clock::time_point started;
    bool stopping = false;
    Clock::time_point stop_sent;
};

Result<RunningChild> spawn_child(const FanoutOptions& options, const std::string& path, size_t index,
                                 const std::string& name)
{
    int out_pipe[2], err_pipe[2];
    if (pipe2(out_pipe, O_CLOEXEC) < 0)
        return Error::from_errno("fanout: pipe");
    UniqueFd out_read(out_pipe[0]), out_write(out_pipe[1]);
    if (pipe2(err_pipe, O_CLOEXEC) < 0)
        return Error::from_errno("fanout: pipe");
    UniqueFd err_read(err_pipe[0]), err_write(err_pipe[1]);

    std::vector<std::string> arguments = {options.spore_executable};
    if (options.command.empty()) {
        arguments.insert(arguments.end(), {"resume", path});
    } else {
        arguments.insert(arguments.end(), {"run", "--from", path, "--"});
        arguments.insert(arguments.end(), options.command.begin(), options.command.end());
    }
    std::vector<char*> argv;
    for (auto& argument : arguments)
        argv.push_back(argument.data());
    argv.push_back(nullptr);

    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, out_write.get(), STDOUT_FILENO);
    posix_spawn_file_actions_adddup2(&actions, err_write.get(), STDERR_FILENO);
    posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    pid_t pid = 0;
    int status = posix_spawn(&pid, options.spore_executable.c_str(), &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (status != 0)
        return Error::from_errno("fanout: spawn " + options.spore_executable, status);

    RunningChild child{index, pid, "[" + name + "] ", {std::move(out_read), STDOUT_FILENO, {}},
                       {std::move(err_read), STDERR_FILENO, {}}, Clock::now()};
    return child;
}

// Reads what is available from a child's streams; false once both ended.
bool pump(RunningChild& child, int timeout_ms)
{
    pollfd fds[2];
    nfds_t count = 0;
    PrefixedStream* streams[2];
    for (PrefixedStream* stream : {&child.out, &child.err}) {
        if (stream->pipe.valid()) {
            fds[count] = {stream->pipe.get(), POLLIN, 0};
            streams[count++] = stream;
        }
    }
    if (count == 0)
        return false;
    if (poll(fds, count, timeout_ms) <= 0)
        return true;
    for (nfds_t index = 0; index < count; index++) {
        if (!(fds[index].revents & (POLLIN | POLLHUP | POLLERR)))
            continue;
        char buffer[65536];
        ssize_t length = ::read(fds[index].fd, buffer, sizeof buffer);
        if (length > 0) {
            streams[index]->emit(child.prefix, std::string_view(buffer, static_cast<size_t>(length)));
        } else if (length == 0 || errno != EINTR) {
            streams[index]->flush(child.prefix);
            streams[index]->pipe.reset();
        }
    }
    return true;
}

} // namespace

bool FanoutResult::any_failed() const
{
    return std::any_of(children.begin(), children.end(), [](const ChildOutcome& child) {
        return child.state == ChildOutcome::State::Failed ||
               (child.state == ChildOutcome::State::Exited && child.exit_status != 0);
    });
}

Result<std::vector<std::string>> list_children(const std::string& batch)
{
    std::error_code error;
    std::filesystem::directory_iterator entries(batch, error);
    if (error)
        return Error::not_found("fanout: " + batch + ": " + error.message());
    std::vector<std::string> names;
    for (const auto& entry : entries) {
        std::string name = entry.path().filename();
        if (is_child_name(name) && std::filesystem::exists(entry.path() / "manifest.json"))
            names.push_back(name);
    }
    std::sort(names.begin(), names.end());
    if (names.empty())
        return Error::not_found("fanout: " + batch + ": no child spores (directories 000000, 000001, ...)");
    return names;
}

Result<FanoutResult> fanout(const FanoutOptions& options)
{
    auto names = TRY(list_children(options.batch));
    FanoutResult result;
    result.children.resize(names.size());
    std::vector<RunningChild> running;
    size_t next = 0;
    auto deadline = options.duration ? Clock::now() + *options.duration : Clock::time_point::max();
    unsigned jobs = std::max(1u, options.jobs);

    while (next < names.size() || !running.empty()) {
        while (next < names.size() && running.size() < jobs && Clock::now() < deadline) {
            result.children[next].name = names[next];
            auto child = spawn_child(options, options.batch + "/" + names[next], next, names[next]);
            if (!child)
                std::fprintf(stderr, "[%s] %s\n", names[next].c_str(), child.error().message().c_str());
            else
                running.push_back(std::move(*child));
            next++;
        }
        if (Clock::now() >= deadline && next < names.size()) {
            for (; next < names.size(); next++) // never started: the time is up
                result.children[next] = {names[next], ChildOutcome::State::Stopped, 0, 0};
        }

        for (auto& child : running) {
            int timeout = static_cast<int>(std::max<size_t>(1, 50 / running.size()));
            pump(child, timeout);
            if (Clock::now() >= deadline && !child.stopping) {
                kill(child.pid, SIGTERM);
                child.stopping = true;
                child.stop_sent = Clock::now();
            }
            if (child.stopping && Clock::now() - child.stop_sent > stop_grace)
                kill(child.pid, SIGKILL);
        }

        for (auto it = running.begin(); it != running.end();) {
            int status = 0;
            if (waitpid(it->pid, &status, WNOHANG) != it->pid) {
                ++it;
                continue;
            }
            while (pump(*it, 0)) {
            }
            auto& outcome = result.children[it->index];
            outcome.seconds = std::chrono::duration<double>(Clock::now() - it->started).count();
            if (it->stopping)
                outcome.state = ChildOutcome::State::Stopped;
            else if (WIFEXITED(status))
                outcome = {outcome.name, ChildOutcome::State::Exited, WEXITSTATUS(status), outcome.seconds};
            else
                outcome.state = ChildOutcome::State::Failed;
            it = running.erase(it);
        }
    }
    return result;
}

std::string fanout_summary(const FanoutResult& result, bool json)
{
    auto state_name = [](const ChildOutcome& child) {
        switch (child.state) {
        case ChildOutcome::State::Exited: return "exited";
        case ChildOutcome::State::Stopped: return "stopped";
        case ChildOutcome::State::Failed: return "failed";
        }
        return "failed";
    };
    if (json) {
        nlohmann::ordered_json children = nlohmann::ordered_json::array();
        for (const auto& child : result.children) {
            nlohmann::ordered_json entry = {{"name", child.name}, {"state", state_name(child)}, {"seconds", child.seconds}};
            if (child.state == ChildOutcome::State::Exited)
                entry["exit_status"] = child.exit_status;
            children.push_back(entry);
        }
        return nlohmann::ordered_json{{"children", children}, {"failed", result.any_failed()}}.dump(2) + "\n";
    }
    std::string text;
    for (const auto& child : result.children) {
        char line[160];
        if (child.state == ChildOutcome::State::Exited)
            std::snprintf(line, sizeof line, "%s  exited %d  %.1f s\n", child.name.c_str(), child.exit_status, child.seconds);
        else
            std::snprintf(line, sizeof line, "%s  %s  %.1f s\n", child.name.c_str(), state_name(child), child.seconds);
        text += line;
    }
    return text;
}

Result<std::chrono::milliseconds> parse_duration(const std::string& text)
{
    uint64_t number = 0;
    auto [rest, error] = std::from_chars(text.data(), text.data() + text.size(), number);
    if (error != std::errc() || rest == text.data() || number > 100'000'000)
        return Error::invalid("duration: not a number: " + text);
    std::string_view unit(rest, static_cast<size_t>(text.data() + text.size() - rest));
    if (unit == "ms")
        return std::chrono::milliseconds(number);
    if (unit.empty() || unit == "s")
        return std::chrono::milliseconds(number * 1000);
    if (unit == "m")
        return std::chrono::milliseconds(number * 60'000);
    if (unit == "h")
        return std::chrono::milliseconds(number * 3'600'000);
    return Error::invalid("duration: unknown unit in " + text + " (use ms, s, m or h)");
}

} // namespace spore
