#include "ops/fanout.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace spore {
namespace {

namespace fs = std::filesystem;

// A batch of empty child spores and a stand-in for the spore binary: a
// shell script that acts out what each child does, by name.
class FanoutTest : public ::testing::Test {
protected:
    void SetUp() override
    {
        m_root = fs::temp_directory_path() / ("spore-fanout-test-" + std::to_string(getpid()));
        fs::create_directories(m_root / "batch");
        for (const char* name : {"000000", "000001", "000002"}) {
            fs::create_directories(m_root / "batch" / name);
            std::ofstream(m_root / "batch" / name / "manifest.json") << "{}";
        }
        fs::create_directories(m_root / "batch" / "chunks");
    }
    void TearDown() override { fs::remove_all(m_root); }

    // script: the body of the stand-in; $3 is the child path for run
    // --from, $2 for resume.
    FanoutOptions options(const std::string& script, std::vector<std::string> command = {"cmd"})
    {
        auto path = m_root / "fake-spore";
        std::ofstream(path) << "#!/bin/sh\n" << script << "\n";
        chmod(path.c_str(), 0755);
        FanoutOptions result;
        result.batch = m_root / "batch";
        result.command = std::move(command);
        result.spore_executable = path;
        return result;
    }

    fs::path m_root;
};

TEST_F(FanoutTest, ListsOnlyNumberedChildrenInOrder)
{
    auto children = list_children(m_root / "batch");
    ASSERT_TRUE(children.has_value());
    EXPECT_EQ(*children, (std::vector<std::string>{"000000", "000001", "000002"}));
}

TEST_F(FanoutTest, EmptyBatchIsRefused)
{
    fs::create_directories(m_root / "empty");
    EXPECT_FALSE(list_children(m_root / "empty").has_value());
}

TEST_F(FanoutTest, EveryChildRunsAndStatusesAreCollected)
{
    auto result = fanout(options("case \"$3\" in *000001) exit 3;; esac; echo \"ran $3\""));
    ASSERT_TRUE(result.has_value()) << result.error().message();
    ASSERT_EQ(result->children.size(), 3u);
    EXPECT_EQ(result->children[0].state, ChildOutcome::State::Exited);
    EXPECT_EQ(result->children[0].exit_status, 0);
    EXPECT_EQ(result->children[1].exit_status, 3);
    EXPECT_TRUE(result->any_failed());
}

TEST_F(FanoutTest, WithoutCommandChildrenAreResumed)
{
    auto result = fanout(options("[ \"$1\" = resume ] || exit 9", {}));
    ASSERT_TRUE(result.has_value());
    EXPECT_FALSE(result->any_failed());
}

TEST_F(FanoutTest, ParallelChildrenAreStoppedAtTheDeadline)
{
    auto opts = options("exec sleep 30");
    opts.jobs = 3;
    opts.duration = std::chrono::milliseconds(300);
    auto started = std::chrono::steady_clock::now();
    auto result = fanout(opts);
    ASSERT_TRUE(result.has_value());
    EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(10));
    for (const auto& child : result->children)
        EXPECT_EQ(child.state, ChildOutcome::State::Stopped) << child.name;
    EXPECT_FALSE(result->any_failed());
}

TEST_F(FanoutTest, SummaryInJsonNamesEveryChild)
{
    auto result = fanout(options("exit 0"));
    ASSERT_TRUE(result.has_value());
    auto json = fanout_summary(*result, true);
    EXPECT_NE(json.find("\"000002\""), std::string::npos);
    EXPECT_NE(json.find("\"failed\": false"), std::string::npos);
}

TEST(Duration, UnitsParse)
{
    EXPECT_EQ(parse_duration("20s").value(), std::chrono::seconds(20));
    EXPECT_EQ(parse_duration("5m").value(), std::chrono::minutes(5));
    EXPECT_EQ(parse_duration("250ms").value(), std::chrono::milliseconds(250));
    EXPECT_EQ(parse_duration("7").value(), std::chrono::seconds(7));
    EXPECT_FALSE(parse_duration("soon").has_value());
    EXPECT_FALSE(parse_duration("5d").has_value());
}

} // namespace
} // namespace spore
