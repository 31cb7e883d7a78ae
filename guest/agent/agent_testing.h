#pragma once

// The harness of the agent's tests: an agent serving an abstract unix socket
// in a forked process, single-threaded and reaping its children as it does
// as the guest's PID 1, and host ends that talk to it.

#include <sys/socket.h>
#include <sys/un.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/unique_fd.h"
#include "exec/client.h"
#include "guest/agent/agent.h"

namespace spore::agent::harness {

inline constexpr int64_t kSecond = 1'000'000'000;

// A point duration from now.
std::chrono::steady_clock::time_point deadline_in(std::chrono::milliseconds duration);

// A stand-in for the guest's wall clock, shared with the forked agent.
struct FakeClock {
    std::atomic<int64_t> now{1000 * kSecond};
    std::atomic<int> settings{0};
    std::atomic<bool> refuse{false};
};

// A WallClock reading and setting clock.
WallClock fake_wall_clock(FakeClock* clock);

// An agent serving an abstract unix socket in a forked process. It runs
// with limits, a FakeClock, and no generation actions unless customize
// (run in the child, before the agent starts) provides some.
class AgentProcess {
public:
    explicit AgentProcess(
        AgentLimits limits = {}, std::function<void(AgentOptions&)> customize = {});
    AgentProcess(const AgentProcess&) = delete;
    AgentProcess& operator=(const AgentProcess&) = delete;
    ~AgentProcess();

    // A new connection to the agent.
    UniqueFd connect() const;

    // The agent's live children, from /proc.
    std::vector<pid_t> children() const;

    // Waits until the agent has no children left, zombies included, so every
    // session it started has been reaped; false if some remain.
    bool wait_for_no_children() const;

    FakeClock& clock() const { return *m_clock; }

private:
    const sockaddr* address() const { return reinterpret_cast<const sockaddr*>(&m_address); }

    pid_t m_pid = -1;
    sockaddr_un m_address{};
    FakeClock* m_clock = nullptr;
};

// An anonymous file to collect a stream in.
UniqueFd memory_file();

// Everything file holds.
std::string contents(const UniqueFd& file);

// What one exchange left behind.
struct Outcome {
    Result<exec::ExitStatus> status;
    std::string out;
    std::string err;
    exec::SessionProgress progress;
};

// Runs request through the client on a new connection.
Outcome run(const AgentProcess& agent, const exec::ExecRequest& request,
    std::chrono::milliseconds timeout = std::chrono::seconds(60));

// Attaches through the client on a new connection.
Outcome attach(const AgentProcess& agent, const exec::AttachRequest& request,
    std::chrono::milliseconds timeout = std::chrono::seconds(60),
    const exec::SessionObserver& observer = {});

// The attach that continues where progress stopped.
exec::AttachRequest resume_from(const exec::SessionProgress& progress);

// The exit status of an exchange that must have succeeded.
exec::ExitStatus status_of(const Outcome& outcome);

// The error message of an exchange that must have failed.
std::string error_of(const Outcome& outcome);

// A host end that speaks frames by hand, for what the client never does.
class RawClient {
public:
    explicit RawClient(const AgentProcess& agent);

    void send(std::span<const uint8_t> bytes);

    // The next frame, std::nullopt at the end of the stream.
    std::optional<exec::Frame> next();

    // The session id of the STARTED frame that must come next.
    std::string started();

    // The text of the ERROR frame that must come next.
    std::string error();

    void close() { m_socket.reset(); }

private:
    UniqueFd m_socket;
    exec::FrameDecoder m_decoder;
};

// Starts request and hangs up right after STARTED, leaving the command running.
std::string start_detached(const AgentProcess& agent, const exec::ExecRequest& request);

std::span<const uint8_t> bytes_of(std::string_view text);

} // namespace spore::agent::harness
