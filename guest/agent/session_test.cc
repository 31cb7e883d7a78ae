// The agent's session handler against the host client over a socketpair,
// running real commands from the build host's /bin.
#include "guest/agent/session.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <thread>

#include "common/unique_fd.h"
#include "exec/client.h"
#include "guest/agent/command.h"

namespace spore::agent {
namespace {

using namespace std::chrono_literals;
using exec::ExecRequest;
using exec::ExitStatus;

UniqueFd memory_file()
{
    return UniqueFd(memfd_create("agent-session-test", MFD_CLOEXEC));
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

struct SocketPair {
    UniqueFd host;
    UniqueFd agent;
};

SocketPair socket_pair()
{
    int pair[2];
    EXPECT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair), 0);
    return {UniqueFd(pair[0]), UniqueFd(pair[1])};
}

struct Outcome {
    Result<ExitStatus> status;
    std::string out;
    std::string err;
};

// Runs request through a session served on another thread.
Outcome run(const ExecRequest& request, int stdout_fd = -2)
{
    auto sockets = socket_pair();
    std::thread agent(
        [fd = sockets.agent.get()] { [[maybe_unused]] auto served = serve_exec_session(fd); });
    auto out = memory_file();
    auto err = memory_file();
    auto status = exec::run_remote_command(sockets.host.get(), request,
        stdout_fd == -2 ? out.get() : stdout_fd, err.get(), std::chrono::steady_clock::now() + 60s);
    sockets.host.reset();
    agent.join();
    return {std::move(status), contents(out), contents(err)};
}

std::optional<exec::Frame> receive_frame(int fd)
{
    exec::FrameDecoder decoder;
    uint8_t buffer[4096];
    while (true) {
        auto frame = decoder.next();
        if (!frame || *frame)
            return frame ? std::move(*frame) : std::nullopt;
        ssize_t received = recv(fd, buffer, sizeof buffer, 0);
        if (received <= 0)
            return std::nullopt;
        decoder.feed(std::span(buffer, static_cast<size_t>(received)));
    }
}

ExitStatus status_of(const Outcome& outcome)
{
    EXPECT_TRUE(outcome.status.has_value()) << outcome.status.error().message();
    return outcome.status.has_value() ? *outcome.status : ExitStatus{999, 999};
}

TEST(AgentSession, EchoReachesStdoutAndExitsZero)
{
    auto outcome = run({{"echo", "hello"}});
    EXPECT_EQ(status_of(outcome), (ExitStatus{0, 0}));
    EXPECT_EQ(outcome.out, "hello\n");
    EXPECT_EQ(outcome.err, "");
}

TEST(AgentSession, StdoutAndStderrStaySeparate)
{
    auto outcome = run({{"sh", "-c", "echo out; echo err >&2; echo out2; exit 3"}});
    EXPECT_EQ(status_of(outcome), (ExitStatus{3, 0}));
    EXPECT_EQ(outcome.out, "out\nout2\n");
    EXPECT_EQ(outcome.err, "err\n");
}

TEST(AgentSession, SignalledCommandReports128PlusSignal)
{
    auto outcome = run({{"sh", "-c", "kill -TERM $$"}});
    EXPECT_EQ(status_of(outcome), (ExitStatus{143, 15}));
}

TEST(AgentSession, MissingProgramExits127WithAMessage)
{
    auto outcome = run({{"spore-no-such-program"}});
    EXPECT_EQ(status_of(outcome), (ExitStatus{127, 0}));
    EXPECT_EQ(outcome.err, "spore-agent: spore-no-such-program: No such file or directory\n");
}

TEST(AgentSession, ProgramThatCannotRunExits126)
{
    auto outcome = run({{"/"}});
    EXPECT_EQ(status_of(outcome), (ExitStatus{126, 0}));
    EXPECT_EQ(outcome.err, "spore-agent: /: Permission denied\n");
}

TEST(AgentSession, MissingWorkingDirectoryExits126)
{
    auto outcome = run({{"pwd"}, {}, "/spore-no-such-directory"});
    EXPECT_EQ(status_of(outcome), (ExitStatus{126, 0}));
    EXPECT_EQ(outcome.err, "spore-agent: cd /spore-no-such-directory: No such file or directory\n");
}

TEST(AgentSession, CommandRunsInTheRequestedDirectory)
{
    auto outcome = run({{"pwd"}, {}, "/tmp"});
    EXPECT_EQ(status_of(outcome), (ExitStatus{0, 0}));
    EXPECT_EQ(outcome.out, "/tmp\n");
}

TEST(AgentSession, RequestEnvironmentOverridesTheDefaults)
{
    auto outcome
        = run({{"sh", "-c", "echo $HOME $FOO; env | grep -c ^HOME="}, {"FOO=bar", "HOME=/x"}});
    EXPECT_EQ(status_of(outcome), (ExitStatus{0, 0}));
    EXPECT_EQ(outcome.out, "/x bar\n1\n");
}

TEST(AgentSession, ProgramIsSearchedInTheRequestPath)
{
    auto outcome = run({{"sh", "-c", "true"}, {"PATH=/spore-no-such-directory"}});
    EXPECT_EQ(status_of(outcome), (ExitStatus{127, 0}));
}

TEST(AgentSession, ScriptWithoutInterpreterLineRunsInSh)
{
    char directory[] = "/tmp/spore-agent-test-XXXXXX";
    ASSERT_NE(mkdtemp(directory), nullptr);
    std::string script = std::string(directory) + "/script";
    UniqueFd file(open(script.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0755));
    ASSERT_EQ(write(file.get(), "echo from script \"$1\"\n", 22), 22);
    file.reset();

    auto outcome = run({{"script", "arg"}, {std::string("PATH=/nonexistent:") + directory}});
    unlink(script.c_str());
    rmdir(directory);
    EXPECT_EQ(status_of(outcome), (ExitStatus{0, 0}));
    EXPECT_EQ(outcome.out, "from script arg\n");
}

TEST(AgentSession, StdinIsDevNull)
{
    auto outcome = run({{"cat"}});
    EXPECT_EQ(status_of(outcome), (ExitStatus{0, 0}));
    EXPECT_EQ(outcome.out, "");
}

TEST(AgentSession, LargeOutputArrivesByteForByte)
{
    auto outcome = run({{"sh", "-c", "head -c 5000000 /dev/zero | tr '\\0' x; echo tail >&2"}});
    EXPECT_EQ(status_of(outcome), (ExitStatus{0, 0}));
    EXPECT_EQ(outcome.out, std::string(5000000, 'x'));
    EXPECT_EQ(outcome.err, "tail\n");
}

TEST(AgentSession, ClosedStdoutReaderStillYieldsTheExitStatus)
{
    int pipe_fds[2];
    ASSERT_EQ(pipe2(pipe_fds, O_CLOEXEC), 0);
    UniqueFd reader(pipe_fds[0]), writer(pipe_fds[1]);
    reader.reset();
    auto outcome = run({{"sh", "-c", "head -c 1000000 /dev/zero; exit 7"}}, writer.get());
    EXPECT_EQ(status_of(outcome), (ExitStatus{7, 0}));
}

TEST(AgentSession, BackgroundChildHoldingStdoutDoesNotDelayTheExit)
{
    auto started = std::chrono::steady_clock::now();
    auto outcome = run({{"sh", "-c", "sleep 3 & echo done"}});
    EXPECT_EQ(status_of(outcome), (ExitStatus{0, 0}));
    EXPECT_EQ(outcome.out, "done\n");
    EXPECT_LT(std::chrono::steady_clock::now() - started, 2s);
}

TEST(AgentSession, UnsupportedVersionIsRefusedWithAnErrorFrame)
{
    auto sockets = socket_pair();
    std::thread agent(
        [fd = sockets.agent.get()] { EXPECT_FALSE(serve_exec_session(fd).has_value()); });
    std::string json = R"({"version":2,"argv":["true"],"params":{}})";
    auto frame = exec::encode_frame(exec::FrameType::Request,
        std::span(reinterpret_cast<const uint8_t*>(json.data()), json.size()));
    ASSERT_EQ(send(sockets.host.get(), frame.data(), frame.size(), 0), ssize_t(frame.size()));

    auto reply = receive_frame(sockets.host.get());
    agent.join();
    ASSERT_TRUE(reply.has_value());
    EXPECT_EQ(reply->type, exec::FrameType::Error);
    EXPECT_EQ(*exec::parse_error(reply->payload),
        "exec request: unsupported protocol version 2 (this agent speaks 1)");
}

TEST(AgentSession, HostHangingUpKillsTheCommand)
{
    auto sockets = socket_pair();
    Result<void> served;
    std::thread agent([&served, fd = sockets.agent.get()] { served = serve_exec_session(fd); });
    auto frame = exec::encode_request({{"sh", "-c", "echo started; exec sleep 30"}});
    ASSERT_EQ(send(sockets.host.get(), frame->data(), frame->size(), 0), ssize_t(frame->size()));

    uint8_t buffer[64];
    ASSERT_GT(recv(sockets.host.get(), buffer, sizeof buffer, 0), 0);
    auto hung_up = std::chrono::steady_clock::now();
    sockets.host.reset();
    agent.join();
    EXPECT_LT(std::chrono::steady_clock::now() - hung_up, 5s);
    ASSERT_FALSE(served.has_value());
    EXPECT_EQ(served.error().code(), ErrorCode::Interrupted);
}

TEST(AgentSession, HostClosingBeforeTheRequestEndsTheSession)
{
    auto sockets = socket_pair();
    sockets.host.reset();
    auto served = serve_exec_session(sockets.agent.get());
    ASSERT_FALSE(served.has_value());
    EXPECT_EQ(served.error().code(), ErrorCode::Interrupted);
}

TEST(AgentCommand, EnvironmentStartsWithHomeAndPath)
{
    auto environment = command_environment({"A=1", "PATH=/bin", "A=2"});
    EXPECT_EQ(environment, (std::vector<std::string>{"HOME=/root", "PATH=/bin", "A=2"}));
}

TEST(AgentCommand, DefaultEnvironmentHasTheStandardPath)
{
    auto environment = command_environment({});
    EXPECT_EQ(environment[1], std::string("PATH=") + kDefaultPath);
}

TEST(AgentCommand, SearchFollowsPathElementsInOrder)
{
    EXPECT_EQ(
        search_candidates("ls", "/a::/b"), (std::vector<std::string>{"/a/ls", "./ls", "/b/ls"}));
    EXPECT_EQ(search_candidates("./ls", "/a"), (std::vector<std::string>{"./ls"}));
    EXPECT_EQ(search_candidates("ls", ""), (std::vector<std::string>{"./ls"}));
}

} // namespace
} // namespace spore::agent
