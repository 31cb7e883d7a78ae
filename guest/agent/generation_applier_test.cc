#include "guest/agent/generation_applier.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace spore::agent {
namespace {

constexpr int64_t kNow = 1'700'000'000'000'000'000;

exec::GenerationParameters parameters_for(uint64_t generation)
{
    return {generation, generation - 1, 1, 3, "0123456789abcdef0123456789abcdef",
        "fedcba9876543210fedcba9876543210", "spore-fedcba987654", "0a1b2c3d4e5f",
        "0f" + std::string(62, '0'), kNow + 5'000'000'000};
}

// Actions that record what they were asked to do, in order.
struct Recorder {
    std::vector<std::string> log;
    bool refuse_hostname = false;

    GenerationActions actions()
    {
        return {
            [this](const std::string& path, std::string_view, mode_t mode) -> Result<void> {
                char octal[8];
                std::snprintf(octal, sizeof octal, "%o", static_cast<unsigned>(mode));
                log.push_back("write " + path + " " + octal);
                return {};
            },
            [this](const std::string& hostname) -> Result<void> {
                log.push_back("hostname " + hostname);
                if (refuse_hostname)
                    return Error::from_errno("sethostname", EPERM);
                return {};
            },
            [this](std::span<const uint8_t> seed) -> Result<void> {
                log.push_back("entropy " + std::to_string(seed.size()) + " bytes, first "
                    + std::to_string(seed[0]));
                return {};
            },
            [this](uint64_t generation) { log.push_back("report " + std::to_string(generation)); },
        };
    }

    WallClock clock()
    {
        return {[] { return kNow; },
            [this](int64_t time_ns) -> Result<void> {
                log.push_back("clock " + std::to_string(time_ns));
                return {};
            }};
    }
};

// A scratch directory standing for the guest's root, removed afterwards.
class ScratchRoot {
public:
    ScratchRoot()
    {
        char pattern[] = "/tmp/spore-generation-test-XXXXXX";
        m_path = mkdtemp(pattern);
    }
    ~ScratchRoot() { std::filesystem::remove_all(m_path); }
    const std::string& path() const { return m_path; }

private:
    std::string m_path;
};

std::string read_text(const std::string& path)
{
    std::ifstream file(path);
    std::stringstream text;
    text << file.rdbuf();
    return text.str();
}

// What sh prints for script after sourcing file.
std::string shell_output(const std::string& file, const std::string& script)
{
    std::string command = "sh -c '. " + file + "; " + script + "'";
    FILE* pipe = popen(command.c_str(), "r");
    std::string output;
    char buffer[256];
    while (size_t got = std::fread(buffer, 1, sizeof buffer, pipe))
        output.append(buffer, got);
    EXPECT_EQ(pclose(pipe), 0);
    return output;
}

TEST(GenerationApplier, AppliesANewGenerationInOrder)
{
    Recorder recorder;
    GenerationApplier applier(recorder.actions(), recorder.clock());
    EXPECT_EQ(applier.applied(), 0u);
    EXPECT_TRUE(applier.apply(parameters_for(1)));
    EXPECT_EQ(recorder.log,
        (std::vector<std::string>{"write /run/sporevm/generation.json 600",
            "write /run/sporevm/env 644", "hostname spore-fedcba987654",
            "entropy 32 bytes, first 15", "clock " + std::to_string(kNow + 5'000'000'000),
            "report 1"}));
    EXPECT_EQ(applier.applied(), 1u);
}

TEST(GenerationApplier, SkipsAGenerationNotNewerThanTheLastApplied)
{
    Recorder recorder;
    GenerationApplier applier(recorder.actions(), recorder.clock());
    EXPECT_TRUE(applier.apply(parameters_for(5)));
    recorder.log.clear();
    EXPECT_FALSE(applier.apply(parameters_for(5)));
    EXPECT_FALSE(applier.apply(parameters_for(4)));
    EXPECT_TRUE(recorder.log.empty());
    EXPECT_EQ(applier.applied(), 5u);

    EXPECT_TRUE(applier.apply(parameters_for(6)));
    EXPECT_EQ(recorder.log.size(), 6u);
    EXPECT_EQ(recorder.log.back(), "report 6");
    EXPECT_EQ(applier.applied(), 6u);
}

TEST(GenerationApplier, AFailedStepDoesNotStopTheOthers)
{
    Recorder recorder;
    recorder.refuse_hostname = true;
    GenerationApplier applier(recorder.actions(), recorder.clock());
    EXPECT_TRUE(applier.apply(parameters_for(2)));
    ASSERT_EQ(recorder.log.size(), 6u);
    EXPECT_EQ(recorder.log[2], "hostname spore-fedcba987654");
    EXPECT_EQ(recorder.log[5], "report 2");
    // A failed step is not retried by a later copy of the same generation.
    EXPECT_FALSE(applier.apply(parameters_for(2)));
}

TEST(GenerationApplier, AClockThatIsRightIsNotStepped)
{
    Recorder recorder;
    GenerationApplier applier(recorder.actions(), recorder.clock());
    auto parameters = parameters_for(1);
    parameters.time_ns = kNow + kClockToleranceNs;
    EXPECT_TRUE(applier.apply(parameters));
    EXPECT_EQ(std::count_if(recorder.log.begin(), recorder.log.end(),
                  [](const std::string& line) { return line.starts_with("clock"); }),
        0);
}

TEST(GenerationApplier, WritesTheParametersAndAShellEnvironment)
{
    ScratchRoot root;
    Recorder recorder;
    GenerationActions actions = system_generation_actions(root.path() + "/");
    actions.set_hostname = recorder.actions().set_hostname;
    actions.mix_entropy = recorder.actions().mix_entropy;
    GenerationApplier applier(actions, recorder.clock());
    auto parameters = parameters_for(9);
    ASSERT_TRUE(applier.apply(parameters));

    std::string json_path = root.path() + kGenerationJsonPath;
    std::string env_path = root.path() + kGenerationEnvPath;
    EXPECT_EQ(read_text(json_path), exec::serialize_generation_parameters(parameters) + "\n");
    EXPECT_EQ(read_text(env_path),
        "SPORE_GENERATION='9'\n"
        "SPORE_PARENT_GENERATION='8'\n"
        "SPORE_FORK_INDEX='1'\n"
        "SPORE_FORK_COUNT='3'\n"
        "SPORE_FORK_BATCH_ID='0123456789abcdef0123456789abcdef'\n"
        "SPORE_VM_ID='fedcba9876543210fedcba9876543210'\n"
        "SPORE_HOSTNAME='spore-fedcba987654'\n");
    EXPECT_EQ(shell_output(env_path, "echo $SPORE_FORK_INDEX"), "1\n");
    EXPECT_EQ(shell_output(env_path, "echo $SPORE_FORK_COUNT $SPORE_GENERATION $SPORE_HOSTNAME"),
        "3 9 spore-fedcba987654\n");

    struct stat info { };
    ASSERT_EQ(stat(json_path.c_str(), &info), 0);
    EXPECT_EQ(info.st_mode & 0777, 0600u);
    ASSERT_EQ(stat(env_path.c_str(), &info), 0);
    EXPECT_EQ(info.st_mode & 0777, 0644u);
    EXPECT_FALSE(std::filesystem::exists(env_path + ".tmp"));

    // A newer generation replaces both files.
    parameters = parameters_for(10);
    parameters.batch_id.clear();
    parameters.fork_index = 0;
    parameters.fork_count = 1;
    ASSERT_TRUE(applier.apply(parameters));
    EXPECT_EQ(read_text(json_path), exec::serialize_generation_parameters(parameters) + "\n");
    EXPECT_EQ(
        shell_output(env_path, "echo \"[$SPORE_FORK_BATCH_ID] $SPORE_GENERATION\""), "[] 10\n");
}

TEST(GenerationApplier, ShellQuotingSurvivesAnyValue)
{
    ScratchRoot root;
    std::string value = "it's $HOME `id` \"q\" \\ ; echo injected";
    std::string path = root.path() + "/quoted";
    ASSERT_TRUE(replace_file(path, "VALUE=" + shell_quote(value) + "\n", 0644));
    EXPECT_EQ(shell_output(path, "printf %s \"$VALUE\""), value);
    EXPECT_EQ(shell_quote(""), "''");
}

TEST(GenerationApplier, ReplaceFileReportsWhatFailed)
{
    ScratchRoot root;
    std::string blocker = root.path() + "/file";
    ASSERT_TRUE(replace_file(blocker, "x", 0644));
    auto failed = replace_file(blocker + "/below", "y", 0644);
    ASSERT_FALSE(failed.has_value());
    EXPECT_EQ(failed.error().message(), "create " + blocker + "/below.tmp: Not a directory");
}

} // namespace
} // namespace spore::agent
