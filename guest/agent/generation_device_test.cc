#include "guest/agent/generation_device.h"

#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <cstring>
#include <filesystem>
#include <fstream>

namespace spore::agent {
namespace {

namespace reg = generation_register;

// A scratch directory, removed afterwards.
class ScratchDirectory {
public:
    ScratchDirectory()
    {
        char pattern[] = "/tmp/spore-uio-test-XXXXXX";
        m_path = mkdtemp(pattern);
    }
    ~ScratchDirectory() { std::filesystem::remove_all(m_path); }
    const std::string& path() const { return m_path; }

    void write(const std::string& relative, const std::string& text) const
    {
        std::filesystem::create_directories(
            std::filesystem::path(m_path + "/" + relative).parent_path());
        std::ofstream(m_path + "/" + relative) << text;
    }

private:
    std::string m_path;
};

exec::GenerationParameters sample(uint64_t generation)
{
    return {generation, 0, 0, 1, "", "fedcba9876543210fedcba9876543210", "spore-fedcba987654",
        "0a1b2c3d4e5f", std::string(64, 'a'), 1'754'000'000'000'000'000};
}

// A device over ordinary memory, with one end of a socket pair standing
// for the uio file and the other kept by the test.
struct FakeDevice {
    std::unique_ptr<GenerationDevice> device;
    uint8_t* window = nullptr;
    int peer = -1;

    FakeDevice()
    {
        void* mapping = mmap(nullptr, kGenerationDeviceSize, PROT_READ | PROT_WRITE,
            MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        window = static_cast<uint8_t*>(mapping);
        int pair[2];
        EXPECT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, pair), 0);
        peer = pair[1];
        device = std::make_unique<GenerationDevice>(
            UniqueFd(pair[0]), mapping, kGenerationDeviceSize, 0);
        set(reg::kMagic, kGenerationMagic);
        set(reg::kVersion, kGenerationDeviceVersion);
    }
    ~FakeDevice() { close(peer); }

    void set(size_t offset, uint32_t value) { std::memcpy(window + offset, &value, 4); }
    uint32_t get(size_t offset) const
    {
        uint32_t value;
        std::memcpy(&value, window + offset, 4);
        return value;
    }

    void present(uint64_t generation, const std::string& document)
    {
        set(reg::kGenerationLow, static_cast<uint32_t>(generation));
        set(reg::kGenerationHigh, static_cast<uint32_t>(generation >> 32));
        std::memset(window + kGenerationParamsOffset, 0, kGenerationDeviceSize / 2);
        std::memcpy(window + kGenerationParamsOffset, document.data(),
            std::min(document.size(), kGenerationDeviceSize / 2));
        set(reg::kParamsLength, static_cast<uint32_t>(document.size()));
        set(reg::kInterruptStatus, 1);
    }
};

TEST(GenerationDevice, FindsTheUioNodeNamedGeneration)
{
    ScratchDirectory sys;
    EXPECT_FALSE(find_generation_uio(sys.path() + "/absent").has_value());
    sys.write("uio0/name", "virtio-something\n");
    EXPECT_FALSE(find_generation_uio(sys.path()).has_value());
    sys.write("uio3/name", "generation\n");
    sys.write("uio3/maps/map0/offset", "0x0\n");
    sys.write("uio3/maps/map0/size", "0x0000000000002000\n");
    EXPECT_EQ(find_generation_uio(sys.path()), "uio3");

    auto map = read_uio_map(sys.path(), "uio3");
    ASSERT_TRUE(map.has_value()) << map.error().message();
    EXPECT_EQ(map->offset, 0u);
    EXPECT_EQ(map->size, 0x2000u);

    sys.write("uio3/maps/map0/size", "0x1000\n");
    EXPECT_FALSE(read_uio_map(sys.path(), "uio3").has_value());
    sys.write("uio3/maps/map0/size", "junk\n");
    EXPECT_FALSE(read_uio_map(sys.path(), "uio3").has_value());
}

TEST(GenerationDevice, OpenWithoutADeviceGivesNothing)
{
    ScratchDirectory sys;
    auto device = GenerationDevice::open(sys.path(), sys.path());
    ASSERT_TRUE(device.has_value());
    EXPECT_EQ(device->get(), nullptr);
}

TEST(GenerationDevice, ReadsThePresentedParameters)
{
    FakeDevice fake;
    EXPECT_TRUE(fake.device->check_identity().has_value());
    EXPECT_FALSE(fake.device->pending());
    // An odd length exercises the word-wise copy of the page's tail.
    std::string document = exec::serialize_generation_parameters(sample(0x100000002)) + "   ";
    fake.present(0x100000002, document);
    EXPECT_TRUE(fake.device->pending());
    auto parameters = fake.device->read_parameters();
    ASSERT_TRUE(parameters.has_value()) << parameters.error().message();
    EXPECT_EQ(*parameters, sample(0x100000002));
}

TEST(GenerationDevice, RefusesAPageThatDoesNotMatchTheRegisters)
{
    FakeDevice fake;
    fake.present(3, exec::serialize_generation_parameters(sample(4)));
    auto mismatch = fake.device->read_parameters();
    ASSERT_FALSE(mismatch.has_value());
    EXPECT_EQ(
        mismatch.error().message(), "generation parameters: generation 4 on a device presenting 3");

    fake.present(3, "{\"generation\":3}");
    EXPECT_FALSE(fake.device->read_parameters().has_value());

    fake.present(3, exec::serialize_generation_parameters(sample(3)));
    fake.set(reg::kParamsLength, 4097);
    auto oversize = fake.device->read_parameters();
    ASSERT_FALSE(oversize.has_value());
    EXPECT_EQ(oversize.error().message(), "generation parameters: length 4097, limit is 4096");

    fake.set(reg::kParamsLength, 10);
    EXPECT_FALSE(fake.device->read_parameters().has_value());
}

TEST(GenerationDevice, RefusesAnotherDevice)
{
    FakeDevice fake;
    fake.set(reg::kVersion, 2);
    auto checked = fake.device->check_identity();
    ASSERT_FALSE(checked.has_value());
    EXPECT_EQ(
        checked.error().message(), "magic 0x4e454753 version 2, not a version 1 generation device");
    fake.present(1, exec::serialize_generation_parameters(sample(1)));
    EXPECT_FALSE(fake.device->read_parameters().has_value());
}

TEST(GenerationDevice, ReportsAcknowledgesAndUnmasks)
{
    FakeDevice fake;
    fake.device->report_applied(0x0000000700000009);
    EXPECT_EQ(fake.get(reg::kAppliedLow), 9u);
    EXPECT_EQ(fake.get(reg::kAppliedHigh), 7u);
    fake.device->acknowledge();
    EXPECT_EQ(fake.get(reg::kInterruptAck), 1u);

    EXPECT_TRUE(fake.device->take_interrupt().has_value()); // nothing waiting
    uint32_t count = 1;
    ASSERT_EQ(write(fake.peer, &count, 4), 4);
    EXPECT_TRUE(fake.device->take_interrupt().has_value());
    EXPECT_EQ(read(fake.peer, &count, 4), -1); // the count was consumed, not echoed

    ASSERT_TRUE(fake.device->enable_interrupt().has_value());
    count = 0;
    ASSERT_EQ(read(fake.peer, &count, 4), 4);
    EXPECT_EQ(count, 1u);
}

} // namespace
} // namespace spore::agent
