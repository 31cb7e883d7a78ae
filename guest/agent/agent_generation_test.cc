// New generations reaching the agent: in-band with a request or attach, and
// from the generation device, here a window of shared memory whose uio
// file is one end of a socket pair.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "guest/agent/agent.h"
#include "guest/agent/agent_testing.h"

namespace spore::agent {
namespace {

using namespace harness;
using exec::ExecRequest;
using exec::ExitStatus;
using exec::FrameType;
using exec::GenerationParameters;
namespace reg = generation_register;

GenerationParameters generation(uint64_t number)
{
    return {number, number - 1, 0, 1, "", "fedcba9876543210fedcba9876543210",
        "spore-g" + std::to_string(number), "0a1b2c3d4e5f", std::string(64, 'c'), 5000 * kSecond};
}

// A scratch root for the agent's files, with a log of the actions that
// would change the build host, shared with the forked agent.
class ScratchRoot {
public:
    ScratchRoot()
    {
        char pattern[] = "/tmp/spore-agent-generation-XXXXXX";
        m_path = mkdtemp(pattern);
    }
    ~ScratchRoot() { std::filesystem::remove_all(m_path); }

    const std::string& path() const { return m_path; }
    std::string log_path() const { return m_path + "/log"; }

    // Files below this root; hostname and entropy only logged.
    GenerationActions actions() const
    {
        GenerationActions actions = system_generation_actions(m_path);
        std::string log = log_path();
        actions.set_hostname = [log](const std::string& hostname) -> Result<void> {
            std::ofstream(log, std::ios::app) << "hostname " << hostname << "\n";
            return {};
        };
        actions.mix_entropy = [log](std::span<const uint8_t> seed) -> Result<void> {
            std::ofstream(log, std::ios::app) << "entropy " << seed.size() << "\n";
            return {};
        };
        return actions;
    }

    std::string log() const
    {
        std::ifstream file(log_path());
        std::stringstream text;
        text << file.rdbuf();
        return text.str();
    }

private:
    std::string m_path;
};

TEST(AgentGeneration, RequestGenerationIsAppliedBeforeTheCommandStarts)
{
    ScratchRoot root;
    AgentProcess agent({}, [&](AgentOptions& options) { options.generation = root.actions(); });
    std::string show = "cat " + root.path() + "/run/sporevm/env " + root.log_path();
    ExecRequest request{{"sh", "-c", show}, {}, "/", {6000 * kSecond, generation(3)}};
    auto outcome = run(agent, request);
    EXPECT_EQ(status_of(outcome), (ExitStatus{0, 0})) << outcome.err;
    EXPECT_EQ(outcome.out,
        "SPORE_GENERATION='3'\nSPORE_PARENT_GENERATION='2'\nSPORE_FORK_INDEX='0'\n"
        "SPORE_FORK_COUNT='1'\nSPORE_FORK_BATCH_ID=''\n"
        "SPORE_VM_ID='fedcba9876543210fedcba9876543210'\nSPORE_HOSTNAME='spore-g3'\n"
        "hostname spore-g3\nentropy 32\n");
    // The generation's time first, then the request's own, which is newer.
    EXPECT_EQ(agent.clock().settings, 2);
    EXPECT_EQ(agent.clock().now, 6000 * kSecond);

    EXPECT_EQ(status_of(run(agent, request)), (ExitStatus{0, 0}));
    EXPECT_EQ(root.log(), "hostname spore-g3\nentropy 32\n");
    request.parameters.generation = generation(2);
    EXPECT_EQ(status_of(run(agent, request)), (ExitStatus{0, 0}));
    EXPECT_EQ(root.log(), "hostname spore-g3\nentropy 32\n");
    request.parameters.generation = generation(4);
    EXPECT_EQ(status_of(run(agent, request)), (ExitStatus{0, 0}));
    EXPECT_EQ(root.log(), "hostname spore-g3\nentropy 32\nhostname spore-g4\nentropy 32\n");
}

TEST(AgentGeneration, AttachGenerationIsApplied)
{
    ScratchRoot root;
    AgentProcess agent({}, [&](AgentOptions& options) { options.generation = root.actions(); });
    std::string id = start_detached(agent, {{"echo", "hi"}});
    auto outcome = attach(agent, {id, 0, 0, {std::nullopt, generation(2)}});
    EXPECT_EQ(status_of(outcome), (ExitStatus{0, 0}));
    EXPECT_EQ(outcome.out, "hi\n");
    EXPECT_EQ(root.log(), "hostname spore-g2\nentropy 32\n");
    EXPECT_EQ(agent.clock().now, 5000 * kSecond);
}

TEST(AgentGeneration, MalformedGenerationRefusesTheRequest)
{
    ScratchRoot root;
    AgentProcess agent({}, [&](AgentOptions& options) { options.generation = root.actions(); });
    RawClient client(agent);
    std::string marker = root.path() + "/ran";
    std::string json = R"({"version":2,"argv":["touch",")" + marker
        + R"("],"params":{"generation":{"generation":2}}})";
    client.send(exec::encode_frame(FrameType::Request, bytes_of(json)));
    EXPECT_EQ(client.error(), "exec request: params.generation: missing field parent_generation");
    EXPECT_FALSE(std::filesystem::exists(marker));
    EXPECT_EQ(root.log(), "");
}

// A generation device in memory shared with the agent.
class SharedDevice {
public:
    SharedDevice()
    {
        m_window = static_cast<uint8_t*>(mmap(nullptr, kGenerationDeviceSize,
            PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0));
        int pair[2];
        EXPECT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair), 0);
        m_agent_end.reset(pair[0]);
        m_host_end.reset(pair[1]);
        set(reg::kMagic, kGenerationMagic);
        set(reg::kVersion, kGenerationDeviceVersion);
    }
    ~SharedDevice() { munmap(m_window, kGenerationDeviceSize); }

    // Hands the agent its device, run in the forked agent.
    void install(AgentOptions& options)
    {
        int fd = fcntl(m_agent_end.get(), F_DUPFD_CLOEXEC, 0);
        fcntl(fd, F_SETFL, O_NONBLOCK);
        options.generation_device
            = std::make_unique<GenerationDevice>(UniqueFd(fd), m_window, kGenerationDeviceSize, 0);
        GenerationDevice* device = options.generation_device.get();
        options.generation.report_applied
            = [device](uint64_t applied) { device->report_applied(applied); };
    }

    void set(size_t offset, uint32_t value) { std::memcpy(m_window + offset, &value, 4); }
    uint32_t get(size_t offset) const
    {
        uint32_t value;
        std::memcpy(&value, m_window + offset, 4);
        return value;
    }

    // Puts document on the parameter page and sets the status, as the host
    // does with the vCPUs stopped.
    void present(uint64_t number, const std::string& document)
    {
        set(reg::kGenerationLow, static_cast<uint32_t>(number));
        set(reg::kGenerationHigh, static_cast<uint32_t>(number >> 32));
        std::memset(m_window + kGenerationParamsOffset, 0, kGenerationDeviceSize / 2);
        std::memcpy(m_window + kGenerationParamsOffset, document.data(), document.size());
        set(reg::kParamsLength, static_cast<uint32_t>(document.size()));
        set(reg::kInterruptAck, 0);
        set(reg::kInterruptStatus, 1);
    }

    // The interrupt fires: uio counts it on the file.
    void interrupt()
    {
        uint32_t count = ++m_interrupts;
        ASSERT_EQ(write(m_host_end.get(), &count, 4), 4);
    }

    // Waits for the agent to unmask the interrupt, which it does last, and
    // then lowers the status as the device does on the acknowledgement.
    bool wait_for_unmask()
    {
        pollfd entry{m_host_end.get(), POLLIN, 0};
        uint32_t value = 0;
        bool unmasked
            = poll(&entry, 1, 5000) == 1 && read(m_host_end.get(), &value, 4) == 4 && value == 1;
        if (get(reg::kInterruptAck) == 1)
            set(reg::kInterruptStatus, 0);
        return unmasked;
    }

    uint64_t applied() const
    {
        return (uint64_t{get(reg::kAppliedHigh)} << 32) | get(reg::kAppliedLow);
    }

private:
    uint8_t* m_window;
    UniqueFd m_agent_end;
    UniqueFd m_host_end;
    uint32_t m_interrupts = 0;
};

TEST(AgentGeneration, DeviceGenerationIsAppliedAtStartupAndOnInterrupt)
{
    ScratchRoot root;
    SharedDevice device;
    // Pending before the agent starts, as at a cold boot.
    device.present(1, exec::serialize_generation_parameters(generation(1)));
    AgentProcess agent({}, [&](AgentOptions& options) {
        options.generation = root.actions();
        device.install(options);
    });
    ASSERT_TRUE(device.wait_for_unmask());
    EXPECT_EQ(device.applied(), 1u);
    EXPECT_EQ(device.get(reg::kInterruptAck), 1u);
    EXPECT_EQ(device.get(reg::kInterruptStatus), 0u);
    EXPECT_EQ(root.log(), "hostname spore-g1\nentropy 32\n");

    device.present(0x100000002, exec::serialize_generation_parameters(generation(0x100000002)));
    device.interrupt();
    ASSERT_TRUE(device.wait_for_unmask());
    EXPECT_EQ(device.applied(), 0x100000002u);
    EXPECT_EQ(device.get(reg::kInterruptStatus), 0u);
    EXPECT_EQ(
        root.log(), "hostname spore-g1\nentropy 32\nhostname spore-g4294967298\nentropy 32\n");
    std::ifstream json(root.path() + "/run/sporevm/generation.json");
    std::string text;
    std::getline(json, text);
    EXPECT_EQ(text, exec::serialize_generation_parameters(generation(0x100000002)));
}

TEST(AgentGeneration, MalformedDevicePageIsAcknowledgedAndIgnored)
{
    ScratchRoot root;
    SharedDevice device;
    AgentProcess agent({}, [&](AgentOptions& options) {
        options.generation = root.actions();
        device.install(options);
    });
    ASSERT_TRUE(device.wait_for_unmask());
    device.present(3, R"({"generation":3})");
    device.interrupt();
    ASSERT_TRUE(device.wait_for_unmask());
    EXPECT_EQ(device.get(reg::kInterruptStatus), 0u);
    EXPECT_EQ(device.applied(), 0u);
    EXPECT_EQ(root.log(), "");
    EXPECT_EQ(status_of(run(agent, {{"true"}})), (ExitStatus{0, 0}));
}

TEST(AgentGeneration, WhicheverCopyArrivesFirstIsAppliedOnce)
{
    ScratchRoot root;
    SharedDevice device;
    AgentProcess agent({}, [&](AgentOptions& options) {
        options.generation = root.actions();
        device.install(options);
    });
    ASSERT_TRUE(device.wait_for_unmask());

    // In-band first: the later interrupt is acknowledged but not applied again.
    ExecRequest request{{"true"}, {}, "/", {std::nullopt, generation(4)}};
    EXPECT_EQ(status_of(run(agent, request)), (ExitStatus{0, 0}));
    EXPECT_EQ(device.applied(), 4u);
    device.present(4, exec::serialize_generation_parameters(generation(4)));
    device.interrupt();
    ASSERT_TRUE(device.wait_for_unmask());
    EXPECT_EQ(device.get(reg::kInterruptStatus), 0u);
    EXPECT_EQ(root.log(), "hostname spore-g4\nentropy 32\n");

    // A device generation whose interrupt has not arrived yet still comes
    // before the next command.
    device.present(5, exec::serialize_generation_parameters(generation(5)));
    auto outcome = run(agent, {{"cat", root.log_path()}});
    EXPECT_EQ(outcome.out, "hostname spore-g4\nentropy 32\nhostname spore-g5\nentropy 32\n");
    EXPECT_EQ(device.applied(), 5u);
    EXPECT_EQ(device.get(reg::kInterruptAck), 1u);
}

} // namespace
} // namespace spore::agent
