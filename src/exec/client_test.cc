#include "exec/client.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <ctime>
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

const std::string kSessionId = "00112233445566778899aabbccddeeff";

// Reads frames until a whole request or attach has arrived.
std::optional<Frame> receive_request(int fd)
{
    FrameDecoder decoder;
    uint8_t buffer[4096];
    while (true) {
        auto frame = decoder.next();
        if (!frame)
            return std::nullopt;
        if (*frame)
            return std::move(**frame);
        ssize_t received = ::recv(fd, buffer, sizeof buffer, 0);
        if (received <= 0)
            return std::nullopt;
        decoder.feed(std::span(buffer, static_cast<size_t>(received)));
    }
}

void send_started(int fd, const std::string& id = kSessionId)
{
    send_all(fd, encode_started(id));
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
        m_thread = std::thread([this, agent = UniqueFd(pair[1]), script, read_request] {
            if (read_request) {
                m_request = receive_request(agent.get());
                if (!m_request)
                    return;
            }
            script(agent.get());
        });
    }
    ~FakeAgent() { join(); }

    int host_fd() const { return m_host.get(); }

    // The frame the host sent, once the script has finished.
    const std::optional<Frame>& request()
    {
        join();
        return m_request;
    }

private:
    void join()
    {
        if (m_thread.joinable())
            m_thread.join();
    }

    UniqueFd m_host;
    std::optional<Frame> m_request;
    std::thread m_thread;
};

const ExecRequest kRequest{{"echo", "hi"}};

TEST(ExecClient, WritesEachStreamToItsFdAndReturnsTheExitStatus)
{
    FakeAgent agent([](int fd) {
        send_started(fd);
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
        send_started(fd);
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
        send_started(fd);
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
    FakeAgent agent([](int fd) {
        send_started(fd);
        send_all(fd, encode_output(FrameType::Stdout, 0, bytes_of("partial")));
    });
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
        send_started(fd);
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

TEST(ExecClient, StartedReachesTheObserverBeforeAnyOutput)
{
    FakeAgent agent([](int fd) {
        send_started(fd);
        send_all(fd, encode_output(FrameType::Stdout, 0, bytes_of("x")));
        send_all(fd, encode_exit({0, 0}));
    });
    auto out = memory_file();
    std::string observed;
    size_t output_when_started = 99;
    SessionObserver observer;
    observer.started = [&](const std::string& id) {
        observed = id;
        output_when_started = contents(out).size();
    };
    SessionProgress progress;
    auto status
        = run_remote_command(agent.host_fd(), kRequest, out.get(), -1, {}, &progress, observer);
    ASSERT_TRUE(status.has_value()) << status.error().message();
    EXPECT_EQ(observed, kSessionId);
    EXPECT_EQ(output_when_started, 0u);
    EXPECT_EQ(progress.session_id, kSessionId);
    EXPECT_EQ(progress.stdout_offset, 1u);
}

TEST(ExecClient, OutputBeforeStartedIsAGuestError)
{
    FakeAgent agent([](int fd) {
        send_all(fd, encode_output(FrameType::Stdout, 0, bytes_of("x")));
        send_all(fd, encode_exit({0, 0}));
    });
    auto status = run_remote_command(agent.host_fd(), kRequest, -1, -1);
    ASSERT_FALSE(status.has_value());
    EXPECT_EQ(status.error().message(), "exec: guest agent sent stdout before started");
}

TEST(ExecClient, SecondStartedIsAGuestError)
{
    FakeAgent agent([](int fd) {
        send_started(fd);
        send_started(fd);
    });
    auto status = run_remote_command(agent.host_fd(), kRequest, -1, -1);
    ASSERT_FALSE(status.has_value());
    EXPECT_EQ(status.error().code(), ErrorCode::Guest);
}

TEST(ExecClient, ProgressSaysWhereADroppedConnectionLeftOff)
{
    FakeAgent agent([](int fd) {
        send_started(fd);
        send_all(fd, encode_output(FrameType::Stdout, 0, bytes_of("hello ")));
        send_all(fd, encode_output(FrameType::Stderr, 0, bytes_of("warn")));
        send_all(fd, encode_output(FrameType::Stdout, 6, bytes_of("world")));
        shutdown(fd, SHUT_RDWR);
    });
    SessionProgress progress;
    auto status = run_remote_command(agent.host_fd(), kRequest, -1, -1, {}, &progress);
    ASSERT_FALSE(status.has_value());
    EXPECT_EQ(progress.session_id, kSessionId);
    EXPECT_EQ(progress.stdout_offset, 11u);
    EXPECT_EQ(progress.stderr_offset, 4u);
}

TEST(ExecClient, ExitIsAcknowledgedThenTheSendingSideIsShutDown)
{
    std::optional<Frame> acknowledgment;
    bool saw_end = false;
    FakeAgent agent([&](int fd) {
        send_started(fd);
        send_all(fd, encode_exit({0, 0}));
        acknowledgment = receive_request(fd);
        uint8_t byte;
        saw_end = recv(fd, &byte, 1, 0) == 0;
    });
    auto status = run_remote_command(agent.host_fd(), kRequest, -1, -1);
    ASSERT_TRUE(status.has_value());
    agent.request();
    ASSERT_TRUE(acknowledgment.has_value());
    EXPECT_EQ(acknowledgment->type, FrameType::Ack);
    EXPECT_TRUE(acknowledgment->payload.empty());
    EXPECT_TRUE(saw_end);
}

TEST(ExecClient, NoAcknowledgmentWithoutExit)
{
    bool saw_frame = true;
    FakeAgent agent([&saw_frame](int fd) {
        send_started(fd);
        send_all(fd, encode_error("stop"));
        saw_frame = receive_request(fd).has_value();
    });
    EXPECT_FALSE(run_remote_command(agent.host_fd(), kRequest, -1, -1).has_value());
    shutdown(agent.host_fd(), SHUT_WR);
    agent.request();
    EXPECT_FALSE(saw_frame);
}

TEST(ExecClient, RequestCarriesTheTimeParameter)
{
    FakeAgent agent([](int fd) {
        send_started(fd);
        send_all(fd, encode_exit({0, 0}));
    });
    ExecRequest request = kRequest;
    request.parameters.time_ns = wall_clock_ns();
    ASSERT_TRUE(run_remote_command(agent.host_fd(), request, -1, -1).has_value());
    const auto& sent = agent.request();
    ASSERT_TRUE(sent.has_value());
    auto parsed = parse_request(sent->payload);
    ASSERT_TRUE(parsed.has_value());
    EXPECT_EQ(parsed->parameters.time_ns, request.parameters.time_ns);
}

TEST(ExecClient, WallClockIsTheUnixTimeInNanoseconds)
{
    int64_t now = wall_clock_ns();
    EXPECT_GT(now, int64_t{1'700'000'000} * 1'000'000'000);
    EXPECT_LT(std::abs(now / 1'000'000'000 - static_cast<int64_t>(time(nullptr))), 2);
}

const AttachRequest kAttach{kSessionId, 3, 2, {123}};

TEST(ExecClientAttach, SendsTheAttachAndContinuesFromItsOffsets)
{
    FakeAgent agent([](int fd) {
        send_started(fd);
        send_all(fd, encode_output(FrameType::Stdout, 3, bytes_of("def")));
        send_all(fd, encode_output(FrameType::Stderr, 2, bytes_of("!")));
        send_all(fd, encode_exit({4, 0}));
    });
    auto out = memory_file();
    auto err = memory_file();
    SessionProgress progress;
    auto status
        = attach_remote_session(agent.host_fd(), kAttach, out.get(), err.get(), {}, &progress);
    ASSERT_TRUE(status.has_value()) << status.error().message();
    EXPECT_EQ(*status, (ExitStatus{4, 0}));
    EXPECT_EQ(contents(out), "def");
    EXPECT_EQ(contents(err), "!");
    EXPECT_EQ(progress.stdout_offset, 6u);
    EXPECT_EQ(progress.stderr_offset, 3u);

    const auto& sent = agent.request();
    ASSERT_TRUE(sent.has_value());
    EXPECT_EQ(sent->type, FrameType::Attach);
    auto parsed = parse_attach(sent->payload);
    ASSERT_TRUE(parsed.has_value());
    EXPECT_EQ(*parsed, kAttach);
}

TEST(ExecClientAttach, LostOutputSkipsAheadAndIsReported)
{
    FakeAgent agent([](int fd) {
        send_started(fd);
        send_all(fd, encode_lost({FrameType::Stdout, 10}));
        send_all(fd, encode_output(FrameType::Stdout, 10, bytes_of("tail")));
        send_all(fd, encode_exit({0, 0}));
    });
    auto out = memory_file();
    SessionProgress progress;
    std::vector<std::pair<uint64_t, uint64_t>> lost;
    SessionObserver observer;
    observer.output_lost = [&](FrameType stream, uint64_t from, uint64_t to) {
        EXPECT_EQ(stream, FrameType::Stdout);
        lost.emplace_back(from, to);
    };
    auto status
        = attach_remote_session(agent.host_fd(), kAttach, out.get(), -1, {}, &progress, observer);
    ASSERT_TRUE(status.has_value()) << status.error().message();
    EXPECT_EQ(contents(out), "tail");
    EXPECT_EQ(progress.stdout_offset, 14u);
    EXPECT_EQ(progress.lost_bytes, 7u);
    EXPECT_EQ(lost, (std::vector<std::pair<uint64_t, uint64_t>>{{3, 10}}));
}

TEST(ExecClientAttach, LostThatDoesNotSkipAheadIsAGuestError)
{
    FakeAgent agent([](int fd) {
        send_started(fd);
        send_all(fd, encode_lost({FrameType::Stderr, 2}));
    });
    auto status = attach_remote_session(agent.host_fd(), kAttach, -1, -1);
    ASSERT_FALSE(status.has_value());
    EXPECT_EQ(status.error().code(), ErrorCode::Guest);
}

TEST(ExecClientAttach, LostAfterOutputIsAGuestError)
{
    FakeAgent agent([](int fd) {
        send_started(fd);
        send_all(fd, encode_output(FrameType::Stdout, 3, bytes_of("d")));
        send_all(fd, encode_lost({FrameType::Stdout, 10}));
    });
    auto status = attach_remote_session(agent.host_fd(), kAttach, -1, -1);
    ASSERT_FALSE(status.has_value());
    EXPECT_EQ(status.error().message(), "exec: guest agent sent a late lost frame for stdout");
}

TEST(ExecClientAttach, LostInReplyToARequestIsAGuestError)
{
    FakeAgent agent([](int fd) {
        send_started(fd);
        send_all(fd, encode_lost({FrameType::Stdout, 10}));
    });
    auto status = run_remote_command(agent.host_fd(), kRequest, -1, -1);
    ASSERT_FALSE(status.has_value());
    EXPECT_EQ(status.error().message(), "exec: guest agent sent a lost frame for a new command");
}

TEST(ExecClientAttach, StartedForAnotherSessionIsAGuestError)
{
    FakeAgent agent([](int fd) { send_started(fd, std::string(32, 'f')); });
    auto status = attach_remote_session(agent.host_fd(), kAttach, -1, -1);
    ASSERT_FALSE(status.has_value());
    EXPECT_EQ(status.error().code(), ErrorCode::Guest);
}

TEST(ExecClientAttach, MalformedSessionIdIsRefusedBeforeSending)
{
    int pair[2];
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair), 0);
    UniqueFd host(pair[0]), guest(pair[1]);
    auto status = attach_remote_session(host.get(), AttachRequest{"nope"}, -1, -1);
    ASSERT_FALSE(status.has_value());
    EXPECT_EQ(status.error().code(), ErrorCode::InvalidInput);
}

} // namespace
} // namespace spore::exec
