#include "exec/client.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <functional>
#include <thread>

#include "common/unique_fd.h"

namespace spore::exec {
namespace {

using namespace std::chrono_literals;

std::span<const uint8_t> bytes_of(std::string_view text)
{
    return {reinterpret_cast<const uint8_t*>(text.data()), text.size()};
}

void send_all(int fd, std::span<const uint8_t> bytes)
{
    while (!bytes.empty()) {
        ssize_t sent = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
        if (sent <= 0)
            return;
        bytes = bytes.subspan(static_cast<size_t>(sent));
    }
}

// Reads frames until a whole request has arrived; false if it never does.
bool receive_request(int fd)
{
    FrameDecoder decoder;
    uint8_t buffer[4096];
    while (true) {
        auto frame = decoder.next();
        if (!frame)
            return false;
        if (*frame)
            return (*frame)->type == FrameType::Request;
        ssize_t received = ::recv(fd, buffer, sizeof buffer, 0);
        if (received <= 0)
            return false;
        decoder.feed(std::span(buffer, static_cast<size_t>(received)));
    }
}

UniqueFd memory_file()
{
    return UniqueFd(memfd_create("exec-client-test", MFD_CLOEXEC));
}

std::string contents(const UniqueFd& file)
{
    std::string text(1 << 20, '\0');
    ssize_t length = pread(file.get(), text.data(), text.size(), 0);
    text.resize(length > 0 ? static_cast<size_t>(length) : 0);
    return text;
}

// A scripted stand-in for the guest agent on the other end of a socketpair.
class FakeAgent {
public:
    // script runs on the agent's end once the request has arrived.
    explicit FakeAgent(std::function<void(int)> script, bool read_request = true)
    {
        int pair[2];
        EXPECT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair), 0);
        m_host.reset(pair[0]);
        m_thread = std::thread([agent = UniqueFd(pair[1]), script, read_request] {
            if (!read_request || receive_request(agent.get()))
                script(agent.get());
        });
    }
    ~FakeAgent() { m_thread.join(); }

    int host_fd() const { return m_host.get(); }

private:
    UniqueFd m_host;
    std::thread m_thread;
};

const ExecRequest kRequest{{"echo", "hi"}};

TEST(ExecClient, WritesEachStreamToItsFdAndReturnsTheExitStatus)
{
    FakeAgent agent([](int fd) {
        send_all(fd, encode_output(FrameType::Stdout, 0, bytes_of("out1 ")));
        send_all(fd, encode_output(FrameType::Stderr, 0, bytes_of("err")));
        send_all(fd, encode_output(FrameType::Stdout, 5, bytes_of("out2")));
        send_all(fd, encode_exit({3, 0}));
    });
    auto out = memory_file();
    auto err = memory_file();
    auto status = run_remote_command(agent.host_fd(), kRequest, out.get(), err.get());
    ASSERT_TRUE(status.has_value()) << status.error().message();
    EXPECT_EQ(*status, (ExitStatus{3, 0}));
    EXPECT_EQ(contents(out), "out1 out2");
    EXPECT_EQ(contents(err), "err");
}

TEST(ExecClient, GapInOffsetsIsAGuestError)
{
    FakeAgent agent([](int fd) {
        send_all(fd, encode_output(FrameType::Stdout, 0, bytes_of("abc")));
        send_all(fd, encode_output(FrameType::Stdout, 4, bytes_of("e")));
        send_all(fd, encode_exit({0, 0}));
    });
    auto status = run_remote_command(agent.host_fd(), kRequest, -1, -1);
    ASSERT_FALSE(status.has_value());
    EXPECT_EQ(status.error().code(), ErrorCode::Guest);
    EXPECT_EQ(status.error().message(), "exec: stdout chunk at offset 4, expected 3");
}

TEST(ExecClient, OverlappingOffsetsAreAGuestError)
{
    FakeAgent agent([](int fd) {
        send_all(fd, encode_output(FrameType::Stderr, 0, bytes_of("abc")));
        send_all(fd, encode_output(FrameType::Stderr, 2, bytes_of("c")));
    });
    auto status = run_remote_command(agent.host_fd(), kRequest, -1, -1);
    ASSERT_FALSE(status.has_value());
    EXPECT_EQ(status.error().code(), ErrorCode::Guest);
}

TEST(ExecClient, ErrorFrameBecomesAGuestError)
{
    FakeAgent agent([](int fd) { send_all(fd, encode_error("exec request: argv: empty")); });
    auto status = run_remote_command(agent.host_fd(), kRequest, -1, -1);
    ASSERT_FALSE(status.has_value());
    EXPECT_EQ(status.error().message(), "exec: guest agent: exec request: argv: empty");
}

TEST(ExecClient, ClosingBeforeExitIsAClearError)
{
    FakeAgent agent(
        [](int fd) { send_all(fd, encode_output(FrameType::Stdout, 0, bytes_of("partial"))); });
    auto status = run_remote_command(agent.host_fd(), kRequest, -1, -1);
    ASSERT_FALSE(status.has_value());
    EXPECT_EQ(
        status.error().message(), "exec: guest agent closed the connection before the exit status");
}

TEST(ExecClient, MalformedFrameIsAGuestError)
{
    FakeAgent agent([](int fd) {
        uint8_t garbage[8] = {42, 0, 0, 0, 0, 0, 0, 0};
        send_all(fd, garbage);
    });
    auto status = run_remote_command(agent.host_fd(), kRequest, -1, -1);
    ASSERT_FALSE(status.has_value());
    EXPECT_EQ(status.error().code(), ErrorCode::Guest);
}

TEST(ExecClient, RequestFrameFromTheGuestIsRefused)
{
    FakeAgent agent([](int fd) { send_all(fd, *encode_request(kRequest)); });
    auto status = run_remote_command(agent.host_fd(), kRequest, -1, -1);
    ASSERT_FALSE(status.has_value());
    EXPECT_EQ(status.error().message(), "exec: guest agent sent a request frame");
}

TEST(ExecClient, SilentGuestTimesOutAtTheDeadline)
{
    int pair[2];
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair), 0);
    UniqueFd host(pair[0]), guest(pair[1]);
    auto started = std::chrono::steady_clock::now();
    auto status = run_remote_command(host.get(), kRequest, -1, -1, started + 100ms);
    ASSERT_FALSE(status.has_value());
    EXPECT_EQ(status.error().code(), ErrorCode::Timeout);
    EXPECT_LT(std::chrono::steady_clock::now() - started, 5s);
}

TEST(ExecClient, ClosedStdoutReaderDoesNotStopTheExchange)
{
    FakeAgent agent([](int fd) {
        std::string chunk(100000, 'y');
        for (uint64_t offset = 0; offset < 1000000; offset += chunk.size())
            send_all(fd, encode_output(FrameType::Stdout, offset, bytes_of(chunk)));
        send_all(fd, encode_output(FrameType::Stderr, 0, bytes_of("done")));
        send_all(fd, encode_exit({0, 0}));
    });
    int pipe_fds[2];
    ASSERT_EQ(pipe2(pipe_fds, O_CLOEXEC), 0);
    UniqueFd reader(pipe_fds[0]), writer(pipe_fds[1]);
    reader.reset();
    auto err = memory_file();

    auto status = run_remote_command(agent.host_fd(), kRequest, writer.get(), err.get());
    ASSERT_TRUE(status.has_value()) << status.error().message();
    EXPECT_EQ(*status, (ExitStatus{0, 0}));
    EXPECT_EQ(contents(err), "done");
}

TEST(ExecClient, RefusalWhileTheRequestIsStillSendingIsReported)
{
    FakeAgent agent(
        [](int fd) {
            send_all(fd, encode_error("too many sessions"));
            shutdown(fd, SHUT_RDWR);
        },
        false);
    ExecRequest large{std::vector<std::string>(7, std::string(kMaxStringLength, 'a'))};
    auto status = run_remote_command(
        agent.host_fd(), large, -1, -1, std::chrono::steady_clock::now() + 10s);
    ASSERT_FALSE(status.has_value());
    EXPECT_EQ(status.error().message(), "exec: guest agent: too many sessions");
}

TEST(ExecClient, InvalidRequestIsRefusedBeforeSending)
{
    int pair[2];
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair), 0);
    UniqueFd host(pair[0]), guest(pair[1]);
    auto status = run_remote_command(host.get(), ExecRequest{}, -1, -1);
    ASSERT_FALSE(status.has_value());
    EXPECT_EQ(status.error().code(), ErrorCode::InvalidInput);
    uint8_t byte;
    EXPECT_EQ(recv(guest.get(), &byte, 1, MSG_DONTWAIT), -1);
}

} // namespace
} // namespace spore::exec
