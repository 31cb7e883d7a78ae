#include "guest/agent/agent_testing.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <thread>

namespace spore::agent::harness {

using namespace std::chrono_literals;

std::chrono::steady_clock::time_point deadline_in(std::chrono::milliseconds duration)
{
    return std::chrono::steady_clock::now() + duration;
}

WallClock fake_wall_clock(FakeClock* clock)
{
    return {[clock] { return clock->now.load(); },
        [clock](int64_t time_ns) -> Result<void> {
            if (clock->refuse)
                return Error::from_errno("exec: setting the wall clock", EPERM);
            clock->now = time_ns;
            clock->settings++;
            return {};
        }};
}

AgentProcess::AgentProcess(AgentLimits limits, std::function<void(AgentOptions&)> customize)
{
    void* shared = mmap(
        nullptr, sizeof(FakeClock), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    m_clock = new (shared) FakeClock;

    static std::atomic<int> instances = 0;
    m_address.sun_family = AF_UNIX;
    std::snprintf(m_address.sun_path + 1, sizeof m_address.sun_path - 1, "spore-agent-test-%d-%d",
        getpid(), instances++);
    UniqueFd listener(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    EXPECT_EQ(bind(listener.get(), address(), sizeof m_address), 0);
    EXPECT_EQ(listen(listener.get(), 64), 0);

    m_pid = fork();
    if (m_pid == 0) {
        // As PID 1 in the guest, the agent inherits every orphan.
        prctl(PR_SET_CHILD_SUBREAPER, 1);
        // The build host's hostname, entropy pool and files stay untouched.
        AgentOptions options{limits, fake_wall_clock(m_clock), GenerationActions{}};
        if (customize)
            customize(options);
        [[maybe_unused]] auto served = serve_agent(listener.get(), std::move(options));
        _exit(1);
    }
}

AgentProcess::~AgentProcess()
{
    for (pid_t child : children()) {
        kill(-child, SIGKILL);
        kill(child, SIGKILL);
    }
    kill(m_pid, SIGKILL);
    waitpid(m_pid, nullptr, 0);
    munmap(m_clock, sizeof(FakeClock));
}

UniqueFd AgentProcess::connect() const
{
    UniqueFd connection(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    EXPECT_EQ(::connect(connection.get(), address(), sizeof m_address), 0);
    return connection;
}

std::vector<pid_t> AgentProcess::children() const
{
    std::ifstream file(
        "/proc/" + std::to_string(m_pid) + "/task/" + std::to_string(m_pid) + "/children");
    std::vector<pid_t> pids;
    pid_t pid;
    while (file >> pid)
        pids.push_back(pid);
    return pids;
}

bool AgentProcess::wait_for_no_children() const
{
    auto deadline = deadline_in(5s);
    while (!children().empty() && std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(10ms);
    return children().empty();
}

UniqueFd memory_file()
{
    return UniqueFd(memfd_create("agent-test", MFD_CLOEXEC));
}

std::string contents(const UniqueFd& file)
{
    struct stat info { };
    fstat(file.get(), &info);
    std::string text(static_cast<size_t>(info.st_size), '\0');
    ssize_t length = pread(file.get(), text.data(), text.size(), 0);
    text.resize(length > 0 ? static_cast<size_t>(length) : 0);
    return text;
}

Outcome run(
    const AgentProcess& agent, const exec::ExecRequest& request, std::chrono::milliseconds timeout)
{
    auto connection = agent.connect();
    auto out = memory_file();
    auto err = memory_file();
    exec::SessionProgress progress;
    auto status = exec::run_remote_command(
        connection.get(), request, out.get(), err.get(), deadline_in(timeout), &progress);
    return {std::move(status), contents(out), contents(err), progress};
}

Outcome attach(const AgentProcess& agent, const exec::AttachRequest& request,
    std::chrono::milliseconds timeout, const exec::SessionObserver& observer)
{
    auto connection = agent.connect();
    auto out = memory_file();
    auto err = memory_file();
    exec::SessionProgress progress;
    auto status = exec::attach_remote_session(
        connection.get(), request, out.get(), err.get(), deadline_in(timeout), &progress, observer);
    return {std::move(status), contents(out), contents(err), progress};
}

exec::AttachRequest resume_from(const exec::SessionProgress& progress)
{
    return {progress.session_id, progress.stdout_offset, progress.stderr_offset};
}

exec::ExitStatus status_of(const Outcome& outcome)
{
    EXPECT_TRUE(outcome.status.has_value()) << outcome.status.error().message();
    return outcome.status.has_value() ? *outcome.status : exec::ExitStatus{999, 999};
}

std::string error_of(const Outcome& outcome)
{
    EXPECT_FALSE(outcome.status.has_value());
    return outcome.status.has_value() ? "" : outcome.status.error().message();
}

RawClient::RawClient(const AgentProcess& agent)
    : m_socket(agent.connect())
{
}

void RawClient::send(std::span<const uint8_t> bytes)
{
    ASSERT_EQ(
        ::send(m_socket.get(), bytes.data(), bytes.size(), MSG_NOSIGNAL), ssize_t(bytes.size()));
}

std::optional<exec::Frame> RawClient::next()
{
    uint8_t buffer[4096];
    while (true) {
        auto frame = m_decoder.next();
        if (!frame || *frame)
            return frame ? std::move(*frame) : std::nullopt;
        ssize_t received = recv(m_socket.get(), buffer, sizeof buffer, 0);
        if (received <= 0)
            return std::nullopt;
        m_decoder.feed(std::span(buffer, static_cast<size_t>(received)));
    }
}

std::string RawClient::started()
{
    auto frame = next();
    EXPECT_TRUE(frame && frame->type == exec::FrameType::Started);
    return frame ? exec::parse_started(frame->payload).value() : "";
}

std::string RawClient::error()
{
    while (auto frame = next()) {
        if (frame->type == exec::FrameType::Error)
            return *exec::parse_error(frame->payload);
    }
    return "no error frame";
}

std::string start_detached(const AgentProcess& agent, const exec::ExecRequest& request)
{
    RawClient client(agent);
    client.send(*exec::encode_request(request));
    return client.started();
}

std::span<const uint8_t> bytes_of(std::string_view text)
{
    return {reinterpret_cast<const uint8_t*>(text.data()), text.size()};
}

} // namespace spore::agent::harness
