#include "guest/agent/command.h"

#include <gtest/gtest.h>
#include <sys/wait.h>

namespace spore::agent {
namespace {

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

TEST(AgentCommand, SpawnedCommandReportsNoLaunchFailureOnceItRan)
{
    auto command = spawn_command({{"true"}});
    ASSERT_TRUE(command.has_value()) << command.error().message();
    int status = 0;
    ASSERT_EQ(waitpid(command->pid, &status, 0), command->pid);
    EXPECT_EQ(exit_status_of(status), (exec::ExitStatus{0, 0}));
    EXPECT_EQ(launch_failure(command->report_pipe.get(), "true", "/"), std::nullopt);
}

TEST(AgentCommand, UnknownProgramIsReportedThroughTheReportPipe)
{
    auto command = spawn_command({{"spore-no-such-program"}});
    ASSERT_TRUE(command.has_value()) << command.error().message();
    int status = 0;
    ASSERT_EQ(waitpid(command->pid, &status, 0), command->pid);
    EXPECT_EQ(exit_status_of(status), (exec::ExitStatus{kExitNotFound, 0}));
    EXPECT_EQ(launch_failure(command->report_pipe.get(), "spore-no-such-program", "/"),
        "spore-agent: spore-no-such-program: No such file or directory\n");
}

TEST(AgentCommand, KilledCommandReports128PlusSignal)
{
    auto command = spawn_command({{"sleep", "30"}});
    ASSERT_TRUE(command.has_value());
    kill_command(command->pid);
    int status = 0;
    ASSERT_EQ(waitpid(command->pid, &status, 0), command->pid);
    EXPECT_EQ(exit_status_of(status), (exec::ExitStatus{137, 9}));
}

} // namespace
} // namespace spore::agent
