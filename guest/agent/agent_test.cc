// The agent's event loop against the host client, over unix sockets
// instead of vsock, running real commands from the build host's /bin. The
// agent runs in a forked process (agent_testing.h).
#include "guest/agent/agent.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <thread>

#include "guest/agent/agent_testing.h"

namespace spore::agent {
namespace {

using namespace std::chrono_literals;
using namespace harness;
using exec::AttachRequest;
using exec::ExecRequest;
using exec::ExitStatus;
using exec::FrameType;
using exec::SessionProgress;

// --- running commands ------------------------------------------------------

TEST(Agent, EchoReachesStdoutAndExitsZero)
{
    AgentProcess agent;
    auto outcome = run(agent, {{"echo", "hello"}});
    EXPECT_EQ(status_of(outcome), (ExitStatus{0, 0}));
    EXPECT_EQ(outcome.out, "hello\n");
    EXPECT_EQ(outcome.err, "");
}

TEST(Agent, StdoutAndStderrStaySeparate)
{
    AgentProcess agent;
    auto outcome = run(agent, {{"sh", "-c", "echo out; echo err >&2; echo out2; exit 3"}});
    EXPECT_EQ(status_of(outcome), (ExitStatus{3, 0}));
    EXPECT_EQ(outcome.out, "out\nout2\n");
    EXPECT_EQ(outcome.err, "err\n");
}

TEST(Agent, SignalledCommandReports128PlusSignal)
{
    AgentProcess agent;
    EXPECT_EQ(status_of(run(agent, {{"sh", "-c", "kill -TERM $$"}})), (ExitStatus{143, 15}));
}

TEST(Agent, MissingProgramExits127WithAMessage)
{
    AgentProcess agent;
    auto outcome = run(agent, {{"spore-no-such-program"}});
    EXPECT_EQ(status_of(outcome), (ExitStatus{127, 0}));
    EXPECT_EQ(outcome.err, "spore-agent: spore-no-such-program: No such file or directory\n");
}

TEST(Agent, ProgramThatCannotRunExits126)
{
    AgentProcess agent;
    auto outcome = run(agent, {{"/"}});
    EXPECT_EQ(status_of(outcome), (ExitStatus{126, 0}));
    EXPECT_EQ(outcome.err, "spore-agent: /: Permission denied\n");
}

TEST(Agent, MissingWorkingDirectoryExits126)
{
    AgentProcess agent;
    auto outcome = run(agent, {{"pwd"}, {}, "/spore-no-such-directory"});
    EXPECT_EQ(status_of(outcome), (ExitStatus{126, 0}));
    EXPECT_EQ(outcome.err, "spore-agent: cd /spore-no-such-directory: No such file or directory\n");
}

TEST(Agent, CommandRunsInTheRequestedDirectory)
{
    AgentProcess agent;
    auto outcome = run(agent, {{"pwd"}, {}, "/tmp"});
    EXPECT_EQ(status_of(outcome), (ExitStatus{0, 0}));
    EXPECT_EQ(outcome.out, "/tmp\n");
}

TEST(Agent, RequestEnvironmentOverridesTheDefaults)
{
    AgentProcess agent;
    auto outcome = run(
        agent, {{"sh", "-c", "echo $HOME $FOO; env | grep -c ^HOME="}, {"FOO=bar", "HOME=/x"}});
    EXPECT_EQ(status_of(outcome), (ExitStatus{0, 0}));
    EXPECT_EQ(outcome.out, "/x bar\n1\n");
}

TEST(Agent, ProgramIsSearchedInTheRequestPath)
{
    AgentProcess agent;
    auto outcome = run(agent, {{"sh", "-c", "true"}, {"PATH=/spore-no-such-directory"}});
    EXPECT_EQ(status_of(outcome), (ExitStatus{127, 0}));
}

TEST(Agent, ScriptWithoutInterpreterLineRunsInSh)
{
    char directory[] = "/tmp/spore-agent-test-XXXXXX";
    ASSERT_NE(mkdtemp(directory), nullptr);
    std::string script = std::string(directory) + "/script";
    UniqueFd file(open(script.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0755));
    ASSERT_EQ(write(file.get(), "echo from script \"$1\"\n", 22), 22);
    file.reset();

    AgentProcess agent;
    auto outcome = run(agent, {{"script", "arg"}, {std::string("PATH=/nonexistent:") + directory}});
    unlink(script.c_str());
    rmdir(directory);
    EXPECT_EQ(status_of(outcome), (ExitStatus{0, 0}));
    EXPECT_EQ(outcome.out, "from script arg\n");
}

TEST(Agent, StdinIsDevNull)
{
    AgentProcess agent;
    auto outcome = run(agent, {{"cat"}});
    EXPECT_EQ(status_of(outcome), (ExitStatus{0, 0}));
    EXPECT_EQ(outcome.out, "");
}

TEST(Agent, LargeOutputArrivesByteForByte)
{
    AgentProcess agent;
    auto outcome
        = run(agent, {{"sh", "-c", "head -c 5000000 /dev/zero | tr '\\0' x; echo tail >&2"}});
    EXPECT_EQ(status_of(outcome), (ExitStatus{0, 0}));
    EXPECT_EQ(outcome.out, std::string(5000000, 'x'));
    EXPECT_EQ(outcome.err, "tail\n");
}

TEST(Agent, AttachedClientLosesNothingBeyondTheStreamCapacity)
{
    AgentLimits limits;
    limits.stream_capacity = 64 * 1024;
    limits.output_budget = 128 * 1024;
    AgentProcess agent(limits);
    auto outcome = run(agent, {{"sh", "-c", "seq 1 300000"}});
    EXPECT_EQ(status_of(outcome), (ExitStatus{0, 0}));
    std::ostringstream expected;
    for (int line = 1; line <= 300000; line++)
        expected << line << '\n';
    EXPECT_EQ(outcome.out, expected.str());
    EXPECT_EQ(outcome.progress.lost_bytes, 0u);
}

TEST(Agent, ClosedStdoutReaderStillYieldsTheExitStatus)
{
    int pipe_fds[2];
    ASSERT_EQ(pipe2(pipe_fds, O_CLOEXEC), 0);
    UniqueFd reader(pipe_fds[0]), writer(pipe_fds[1]);
    reader.reset();

    AgentProcess agent;
    auto connection = agent.connect();
    auto status = exec::run_remote_command(connection.get(),
        {{"sh", "-c", "head -c 1000000 /dev/zero; exit 7"}}, writer.get(), -1, deadline_in(60s));
    ASSERT_TRUE(status.has_value()) << status.error().message();
    EXPECT_EQ(*status, (ExitStatus{7, 0}));
}

TEST(Agent, BackgroundChildHoldingStdoutDoesNotDelayTheExit)
{
    AgentProcess agent;
    auto started = std::chrono::steady_clock::now();
    auto outcome = run(agent, {{"sh", "-c", "sleep 3 & echo done"}});
    EXPECT_EQ(status_of(outcome), (ExitStatus{0, 0}));
    EXPECT_EQ(outcome.out, "done\n");
    EXPECT_LT(std::chrono::steady_clock::now() - started, 2s);
}

TEST(Agent, EachSessionGetsAFreshWellFormedId)
{
    AgentProcess agent;
    auto first = run(agent, {{"true"}});
    auto second = run(agent, {{"true"}});
    EXPECT_TRUE(exec::is_session_id(first.progress.session_id));
    EXPECT_TRUE(exec::is_session_id(second.progress.session_id));
    EXPECT_NE(first.progress.session_id, second.progress.session_id);
}

TEST(Agent, ConcurrentSessionsAreServedAndEveryChildIsReaped)
{
    AgentProcess agent;
    constexpr int kClients = 8;
    std::vector<std::thread> clients;
    std::atomic<int> succeeded = 0;
    for (int index = 0; index < kClients; index++) {
        clients.emplace_back([&agent, &succeeded, index] {
            std::string text = "client " + std::to_string(index);
            auto outcome = run(agent,
                {{"sh", "-c", "sleep 0.2; echo " + text + "; exit " + std::to_string(index)}});
            if (outcome.status && outcome.status->code == static_cast<uint32_t>(index)
                && outcome.out == text + "\n")
                succeeded++;
        });
    }
    for (auto& client : clients)
        client.join();
    EXPECT_EQ(succeeded, kClients);
    EXPECT_TRUE(agent.wait_for_no_children());
}

TEST(Agent, OrphansOfACommandAreReaped)
{
    AgentProcess agent;
    EXPECT_EQ(
        status_of(run(agent, {{"sh", "-c", "sleep 0.2 >/dev/null 2>&1 &"}})), (ExitStatus{0, 0}));
    EXPECT_TRUE(agent.wait_for_no_children());
}

// --- protocol violations and limits ----------------------------------------

TEST(Agent, VersionOneRequestIsRefusedWithAClearError)
{
    AgentProcess agent;
    RawClient client(agent);
    std::string json = R"({"version":1,"argv":["true"]})";
    client.send(exec::encode_frame(FrameType::Request, bytes_of(json)));
    EXPECT_EQ(client.error(), "exec request: unsupported protocol version 1 (this agent speaks 2)");
}

TEST(Agent, FrameOtherThanARequestOrAttachIsRefused)
{
    AgentProcess agent;
    RawClient client(agent);
    client.send(exec::encode_exit({0, 0}));
    EXPECT_EQ(client.error(), "exec: expected a request or attach, got exit");
}

TEST(Agent, DataAfterTheRequestDetachesButTheCommandGoesOn)
{
    AgentProcess agent;
    RawClient client(agent);
    client.send(*exec::encode_request({{"sh", "-c", "sleep 0.3; echo late; exit 4"}}));
    std::string id = client.started();
    client.send(bytes_of("x"));
    EXPECT_EQ(client.error(), "exec: unexpected data from the host after the request");

    auto outcome = attach(agent, {id, 0, 0});
    EXPECT_EQ(status_of(outcome), (ExitStatus{4, 0}));
    EXPECT_EQ(outcome.out, "late\n");
}

TEST(Agent, SilentConnectionIsClosedAfterTheRequestTimeout)
{
    AgentLimits limits;
    limits.request_timeout = 200ms;
    AgentProcess agent(limits);
    RawClient client(agent);
    auto started = std::chrono::steady_clock::now();
    EXPECT_EQ(client.error(), "exec: no request from the host in time");
    EXPECT_FALSE(client.next().has_value());
    EXPECT_LT(std::chrono::steady_clock::now() - started, 5s);
}

TEST(Agent, ConnectionsBeyondTheLimitAreRefused)
{
    AgentLimits limits;
    limits.max_connections = 2;
    AgentProcess agent(limits);
    RawClient first(agent), second(agent), third(agent);
    EXPECT_EQ(third.error(), "exec: too many connections, limit is 2");
    first.close();
    std::this_thread::sleep_for(100ms);
    EXPECT_EQ(status_of(run(agent, {{"true"}})), (ExitStatus{0, 0}));
}

TEST(Agent, OldestFinishedSessionMakesRoomForANewOne)
{
    AgentLimits limits;
    limits.max_sessions = 1;
    AgentProcess agent(limits);
    std::string running = start_detached(agent, {{"sleep", "0.5"}});
    EXPECT_EQ(
        error_of(run(agent, {{"true"}})), "exec: guest agent: exec: too many sessions, limit is 1");

    ASSERT_TRUE(agent.wait_for_no_children());
    EXPECT_EQ(status_of(run(agent, {{"true"}})), (ExitStatus{0, 0}));
    EXPECT_EQ(error_of(attach(agent, {running, 0, 0})),
        "exec: guest agent: exec: no such session " + running);
}

// --- reattaching -----------------------------------------------------------

// A command whose full output is known in advance, written in bursts.
const ExecRequest kChatty{{"sh", "-c",
    "i=0; while [ $i -lt 60 ]; do echo out $i; echo err $i >&2; "
    "head -c 3000 /dev/zero | tr '\\0' $((i % 10)); i=$((i+1)); sleep 0.01; done; exit 5"}};

std::pair<std::string, std::string> chatty_output()
{
    std::string out, err;
    for (int index = 0; index < 60; index++) {
        out += "out " + std::to_string(index) + "\n" + std::string(3000, char('0' + index % 10));
        err += "err " + std::to_string(index) + "\n";
    }
    return {out, err};
}

TEST(Agent, CommandSurvivesItsClientAndReattachYieldsExactlyTheRest)
{
    AgentProcess agent;
    auto first = run(agent, kChatty, 150ms);
    ASSERT_FALSE(first.status.has_value());
    EXPECT_EQ(first.status.error().code(), ErrorCode::Timeout);
    ASSERT_TRUE(exec::is_session_id(first.progress.session_id));
    EXPECT_EQ(first.out.size(), first.progress.stdout_offset);
    EXPECT_EQ(first.err.size(), first.progress.stderr_offset);

    auto rest = attach(agent, resume_from(first.progress));
    EXPECT_EQ(status_of(rest), (ExitStatus{5, 0}));
    auto [out, err] = chatty_output();
    EXPECT_EQ(first.out + rest.out, out);
    EXPECT_EQ(first.err + rest.err, err);
    EXPECT_EQ(rest.progress.lost_bytes, 0u);
}

TEST(Agent, RepeatedDisconnectsLoseAndRepeatNothing)
{
    AgentProcess agent;
    auto piece = run(agent, kChatty, 50ms);
    std::string out = piece.out, err = piece.err;
    SessionProgress progress = piece.progress;
    int attempts = 0;
    while (!piece.status && attempts++ < 200) {
        piece = attach(agent, resume_from(progress), 50ms);
        out += piece.out;
        err += piece.err;
        progress = piece.progress;
    }
    EXPECT_EQ(status_of(piece), (ExitStatus{5, 0}));
    EXPECT_GT(attempts, 1);
    auto [expected_out, expected_err] = chatty_output();
    EXPECT_EQ(out, expected_out);
    EXPECT_EQ(err, expected_err);
}

TEST(Agent, ReattachFromEarlierOffsetsReplaysTheOutput)
{
    AgentProcess agent;
    std::string id = start_detached(agent, {{"sh", "-c", "echo one; echo two >&2; exit 2"}});
    auto outcome = attach(agent, {id, 0, 0});
    EXPECT_EQ(status_of(outcome), (ExitStatus{2, 0}));
    EXPECT_EQ(outcome.out, "one\n");
    EXPECT_EQ(outcome.err, "two\n");
}

TEST(Agent, AttachAfterTheSessionFinishedStillYieldsTheExitStatus)
{
    AgentProcess agent;
    std::string id = start_detached(agent, {{"sh", "-c", "echo hi; echo oops >&2; exit 3"}});
    ASSERT_TRUE(agent.wait_for_no_children());
    auto outcome = attach(agent, {id, 2, 0});
    EXPECT_EQ(status_of(outcome), (ExitStatus{3, 0}));
    EXPECT_EQ(outcome.out, "\n");
    EXPECT_EQ(outcome.err, "oops\n");
}

TEST(Agent, SessionIsForgottenOnceItsExitWasAcknowledged)
{
    AgentProcess agent;
    auto outcome = run(agent, {{"true"}});
    ASSERT_EQ(status_of(outcome), (ExitStatus{0, 0}));
    // An attach that overtakes the ACK gets the status again, and acknowledges it too.
    std::string error;
    for (int attempt = 0; attempt < 50 && error.empty(); attempt++) {
        auto again = attach(agent, {outcome.progress.session_id, 0, 0});
        if (!again.status)
            error = again.status.error().message();
    }
    EXPECT_EQ(error, "exec: guest agent: exec: no such session " + outcome.progress.session_id);
}

TEST(Agent, HangingUpAfterExitWithoutAnAckKeepsTheSession)
{
    AgentProcess agent;
    RawClient client(agent);
    client.send(*exec::encode_request({{"sh", "-c", "echo hi; exit 6"}}));
    std::string id = client.started();
    while (auto frame = client.next()) {
        if (frame->type == FrameType::Exit)
            break;
    }
    client.close();
    std::this_thread::sleep_for(100ms);

    auto outcome = attach(agent, {id, 0, 0});
    EXPECT_EQ(status_of(outcome), (ExitStatus{6, 0}));
    EXPECT_EQ(outcome.out, "hi\n");
}

TEST(Agent, AckIsOnlyTakenAfterExit)
{
    AgentProcess agent;
    RawClient client(agent);
    client.send(*exec::encode_request({{"sh", "-c", "sleep 0.2; echo done"}}));
    std::string id = client.started();
    client.send(exec::encode_ack());
    EXPECT_EQ(client.error(), "exec: unexpected data from the host after the request");
    EXPECT_EQ(attach(agent, {id, 0, 0}).out, "done\n");
}

TEST(Agent, AttachToAnUnknownSessionIsRefused)
{
    AgentProcess agent;
    std::string id(32, 'a');
    auto outcome = attach(agent, {id, 0, 0});
    EXPECT_EQ(error_of(outcome), "exec: guest agent: exec: no such session " + id);
    EXPECT_EQ(outcome.status.error().code(), ErrorCode::Guest);
}

TEST(Agent, AttachBeyondTheWrittenOutputIsRefused)
{
    AgentProcess agent;
    std::string id = start_detached(agent, {{"sh", "-c", "echo hi"}});
    ASSERT_TRUE(agent.wait_for_no_children());
    EXPECT_EQ(error_of(attach(agent, {id, 4, 0})),
        "exec: guest agent: exec: stdout offset 4 is beyond the 3 bytes the command has written");
    EXPECT_EQ(status_of(attach(agent, {id, 3, 0})), (ExitStatus{0, 0}));
}

TEST(Agent, NewAttachReplacesTheOldClient)
{
    AgentProcess agent;
    std::string id = start_detached(agent, {{"sh", "-c", "echo a; sleep 0.5; echo b"}});
    RawClient old_client(agent);
    old_client.send(*exec::encode_attach({id, 0, 0}));
    EXPECT_EQ(old_client.started(), id);

    auto outcome = attach(agent, {id, 0, 0});
    EXPECT_EQ(old_client.error(), "exec: another client attached to session " + id);
    EXPECT_EQ(status_of(outcome), (ExitStatus{0, 0}));
    EXPECT_EQ(outcome.out, "a\nb\n");
}

TEST(Agent, OutputDroppedWhileDetachedIsReportedAsLost)
{
    AgentLimits limits;
    limits.stream_capacity = 64 * 1024;
    AgentProcess agent(limits);
    std::string id = start_detached(agent, {{"sh", "-c", "seq 1 100000; echo end >&2"}});
    ASSERT_TRUE(agent.wait_for_no_children());

    std::ostringstream expected;
    for (int line = 1; line <= 100000; line++)
        expected << line << '\n';
    std::string full = expected.str();

    std::vector<std::pair<uint64_t, uint64_t>> lost;
    exec::SessionObserver observer;
    observer.output_lost = [&lost](FrameType stream, uint64_t from, uint64_t to) {
        EXPECT_EQ(stream, FrameType::Stdout);
        lost.emplace_back(from, to);
    };
    auto outcome = attach(agent, {id, 0, 0}, 60s, observer);
    EXPECT_EQ(status_of(outcome), (ExitStatus{0, 0}));
    ASSERT_EQ(lost.size(), 1u);
    uint64_t kept = full.size() - lost[0].second;
    EXPECT_EQ(lost[0].first, 0u);
    EXPECT_EQ(kept, limits.stream_capacity);
    EXPECT_EQ(outcome.out, full.substr(lost[0].second));
    EXPECT_EQ(outcome.err, "end\n");
    EXPECT_EQ(outcome.progress.lost_bytes, lost[0].second);
    EXPECT_EQ(outcome.progress.stdout_offset, full.size());
}

TEST(Agent, OutputBudgetBoundsAllSessionsTogether)
{
    AgentLimits limits;
    limits.output_budget = 256 * 1024;
    AgentProcess agent(limits);
    const ExecRequest request{{"sh", "-c", "head -c 524288 /dev/zero"}};
    std::string first = start_detached(agent, request);
    std::string second = start_detached(agent, request);
    ASSERT_TRUE(agent.wait_for_no_children());

    uint64_t kept = 0;
    for (const auto& id : {first, second}) {
        auto outcome = attach(agent, {id, 0, 0});
        EXPECT_EQ(status_of(outcome), (ExitStatus{0, 0}));
        EXPECT_EQ(outcome.progress.stdout_offset, 524288u);
        kept += outcome.out.size();
        EXPECT_EQ(outcome.out.size() + outcome.progress.lost_bytes, 524288u);
    }
    EXPECT_LE(kept, limits.output_budget);
}

// --- host parameters -------------------------------------------------------

TEST(Agent, RequestTimeSetsAStaleClock)
{
    AgentProcess agent;
    ExecRequest request{{"true"}, {}, "/", {5000 * kSecond}};
    EXPECT_EQ(status_of(run(agent, request)), (ExitStatus{0, 0}));
    EXPECT_EQ(agent.clock().settings, 1);
    EXPECT_EQ(agent.clock().now, 5000 * kSecond);
}

TEST(Agent, RequestTimeWithinAMillisecondLeavesTheClockAlone)
{
    AgentProcess agent;
    int64_t now = agent.clock().now;
    EXPECT_EQ(
        status_of(run(agent, {{"true"}, {}, "/", {now + kClockToleranceNs}})), (ExitStatus{0, 0}));
    EXPECT_EQ(
        status_of(run(agent, {{"true"}, {}, "/", {now - kClockToleranceNs}})), (ExitStatus{0, 0}));
    EXPECT_EQ(status_of(run(agent, {{"true"}})), (ExitStatus{0, 0}));
    EXPECT_EQ(agent.clock().settings, 0);
}

TEST(Agent, AttachTimeSetsTheClockToo)
{
    AgentProcess agent;
    std::string id = start_detached(agent, {{"true"}});
    EXPECT_EQ(status_of(attach(agent, {id, 0, 0, {7000 * kSecond}})), (ExitStatus{0, 0}));
    EXPECT_EQ(agent.clock().now, 7000 * kSecond);
}

TEST(Agent, ClockThatCannotBeSetRefusesTheRequestBeforeItRuns)
{
    char directory[] = "/tmp/spore-agent-test-XXXXXX";
    ASSERT_NE(mkdtemp(directory), nullptr);
    std::string marker = std::string(directory) + "/ran";

    AgentProcess agent;
    agent.clock().refuse = true;
    auto outcome = run(agent, {{"touch", marker}, {}, "/", {5000 * kSecond}});
    EXPECT_EQ(error_of(outcome),
        "exec: guest agent: exec: setting the wall clock: Operation not permitted");
    EXPECT_TRUE(outcome.progress.session_id.empty());
    EXPECT_NE(access(marker.c_str(), F_OK), 0);
    rmdir(directory);
}

} // namespace
} // namespace spore::agent
