#include "vmm/devices/generation.h"

#include <gtest/gtest.h>

#include <unistd.h>

#include <thread>
#include <vector>

namespace spore {
namespace {

using Device = GenerationDevice;

// Records the level the device drives and how often it changed it.
class FakeLine final : public InterruptLine {
public:
    void set_level(bool asserted) override
    {
        m_level = asserted;
        m_calls++;
    }

    bool level() const { return m_level; }
    int calls() const { return m_calls; }

private:
    bool m_level = false;
    int m_calls = 0;
};

class GenerationDeviceTest : public ::testing::Test {
protected:
    GenerationDeviceTest()
        : m_device(std::move(Device::create(m_line)).value())
    {
    }

    // A little-endian read of width bytes.
    uint64_t read(uint64_t offset, size_t width = 4)
    {
        std::vector<uint8_t> data(width, 0xee);
        m_device->mmio_read(offset, data);
        uint64_t value = 0;
        for (size_t index = 0; index < width; index++)
            value |= uint64_t{data[index]} << (8 * index);
        return value;
    }

    void write(uint64_t offset, uint64_t value, size_t width = 4)
    {
        std::vector<uint8_t> data(width);
        for (size_t index = 0; index < width; index++)
            data[index] = static_cast<uint8_t>(value >> (8 * index));
        m_device->mmio_write(offset, data);
    }

    void present(uint64_t generation, const std::string& params)
    {
        auto presented = m_device->present(generation, params);
        ASSERT_TRUE(presented) << presented.error().message();
    }

    FakeLine m_line;
    std::unique_ptr<Device> m_device;
};

TEST_F(GenerationDeviceTest, IdentifiesItself)
{
    EXPECT_EQ(read(Device::kMagicRegister), 0x4e454753u);
    EXPECT_EQ(read(Device::kVersionRegister), 1u);
    std::vector<uint8_t> magic(4);
    m_device->mmio_read(0, magic);
    EXPECT_EQ(std::string(magic.begin(), magic.end()), "SGEN");
}

TEST_F(GenerationDeviceTest, StartsWithNothingPresented)
{
    for (uint64_t offset = 0x008; offset <= 0x020; offset += 4)
        EXPECT_EQ(read(offset), 0u) << offset;
    EXPECT_EQ(read(Device::kParamsOffset, 8), 0u);
    EXPECT_FALSE(m_line.level());
    EXPECT_EQ(m_line.calls(), 0);
}

TEST_F(GenerationDeviceTest, PresentSetsGenerationParametersStatusAndLine)
{
    present(0x0000'0001'0000'0002, "{\"generation\":4294967298}");
    EXPECT_EQ(read(Device::kGenerationLow), 2u);
    EXPECT_EQ(read(Device::kGenerationHigh), 1u);
    EXPECT_EQ(read(Device::kInterruptStatus), 1u);
    EXPECT_EQ(read(Device::kParamsLength), 25u);
    EXPECT_TRUE(m_line.level());
    EXPECT_EQ(m_device->generation(), 0x0000'0001'0000'0002u);
}

TEST_F(GenerationDeviceTest, AckOfBitZeroClearsStatusAndLowersTheLine)
{
    present(3, "{}");
    write(Device::kInterruptAck, 0);
    EXPECT_EQ(read(Device::kInterruptStatus), 1u);
    EXPECT_TRUE(m_line.level());
    write(Device::kInterruptAck, 0xfffffffe);
    EXPECT_EQ(read(Device::kInterruptStatus), 1u);
    EXPECT_TRUE(m_line.level());
    write(Device::kInterruptAck, 1);
    EXPECT_EQ(read(Device::kInterruptStatus), 0u);
    EXPECT_FALSE(m_line.level());
    // The generation and parameters stay readable after the acknowledgement.
    EXPECT_EQ(read(Device::kGenerationLow), 3u);
    EXPECT_EQ(read(Device::kParamsLength), 2u);

    present(4, "{}");
    EXPECT_TRUE(m_line.level());
    EXPECT_EQ(read(Device::kInterruptStatus), 1u);
}

TEST_F(GenerationDeviceTest, AckIsWriteOnly)
{
    present(3, "{}");
    EXPECT_EQ(read(Device::kInterruptAck), 0u);
}

TEST_F(GenerationDeviceTest, AppliedGenerationIsReadWriteInHalves)
{
    write(Device::kAppliedLow, 0x89abcdef);
    write(Device::kAppliedHigh, 0x01234567);
    EXPECT_EQ(read(Device::kAppliedLow), 0x89abcdefu);
    EXPECT_EQ(read(Device::kAppliedHigh), 0x01234567u);
    EXPECT_EQ(m_device->applied_generation(), 0x0123456789abcdefu);
    write(Device::kAppliedLow, 5);
    EXPECT_EQ(m_device->applied_generation(), 0x0123456700000005u);
}

TEST_F(GenerationDeviceTest, ReadOnlyRegistersIgnoreWrites)
{
    present(7, "{\"a\":1}");
    for (uint64_t offset :
        {Device::kMagicRegister, Device::kVersionRegister, Device::kGenerationLow,
            Device::kGenerationHigh, Device::kInterruptStatus, Device::kParamsLength})
        write(offset, 0);
    EXPECT_EQ(read(Device::kMagicRegister), Device::kMagic);
    EXPECT_EQ(read(Device::kVersionRegister), 1u);
    EXPECT_EQ(read(Device::kGenerationLow), 7u);
    EXPECT_EQ(read(Device::kInterruptStatus), 1u);
    EXPECT_EQ(read(Device::kParamsLength), 7u);
    EXPECT_TRUE(m_line.level());
}

TEST_F(GenerationDeviceTest, OtherWidthsOnTheRegisterPageReadZeroAndAreIgnored)
{
    present(0x0000'0002'0000'0007, "{}");
    for (size_t width : {1u, 2u, 8u}) {
        EXPECT_EQ(read(Device::kMagicRegister, width), 0u) << width;
        EXPECT_EQ(read(Device::kGenerationLow, width), 0u) << width;
    }
    write(Device::kInterruptAck, 1, 1);
    write(Device::kInterruptAck, 1, 2);
    write(Device::kInterruptAck - 4, 0x0000'0001'0000'0000, 8);
    EXPECT_EQ(read(Device::kInterruptStatus), 1u);
    EXPECT_TRUE(m_line.level());
    write(Device::kAppliedLow, 0x1111'1111'2222'2222, 8);
    write(Device::kAppliedLow, 0x33, 1);
    EXPECT_EQ(m_device->applied_generation(), 0u);
}

TEST_F(GenerationDeviceTest, UnalignedAndUnlistedOffsetsReadZeroAndIgnoreWrites)
{
    present(9, "{}");
    for (uint64_t offset : {0x002ull, 0x009ull, 0x015ull, 0x024ull, 0x100ull, 0xffcull}) {
        EXPECT_EQ(read(offset), 0u) << offset;
        write(offset, 0xffffffff);
    }
    EXPECT_EQ(read(Device::kInterruptStatus), 1u);
    EXPECT_EQ(m_device->applied_generation(), 0u);
    EXPECT_EQ(read(Device::kSize, 4), 0u);
    EXPECT_EQ(read(Device::kSize + 0x1000, 8), 0u);
}

TEST_F(GenerationDeviceTest, ParameterPageReadsAnyWidthAtAnyOffset)
{
    std::string params = "{\"hostname\":\"spore-0123456789ab\"}";
    present(2, params);
    auto expected = [&](size_t start, size_t width) {
        uint64_t value = 0;
        for (size_t index = 0; index < width; index++) {
            uint8_t byte = start + index < params.size() ? params[start + index] : 0;
            value |= uint64_t{byte} << (8 * index);
        }
        return value;
    };
    for (size_t start = 0; start < params.size() + 9; start++) {
        for (size_t width : {1u, 2u, 4u, 8u})
            EXPECT_EQ(read(Device::kParamsOffset + start, width), expected(start, width))
                << start << " " << width;
    }
    EXPECT_EQ(read(Device::kParamsOffset + 0xfff, 1), 0u);
    EXPECT_EQ(read(Device::kParamsOffset + 0xff8, 8), 0u);
    EXPECT_EQ(read(Device::kParamsOffset + 1, 3), 0u); // not an access width
}

TEST_F(GenerationDeviceTest, ParameterPageIgnoresWrites)
{
    present(2, "abcdefgh");
    write(Device::kParamsOffset, 0, 8);
    write(Device::kParamsOffset + 8, 0x41, 1);
    EXPECT_EQ(read(Device::kParamsOffset, 8), 0x6867666564636261u);
    EXPECT_EQ(read(Device::kParamsOffset + 8, 1), 0u);
}

TEST_F(GenerationDeviceTest, ShorterParametersLeaveZerosAfterThem)
{
    present(2, std::string(100, 'x'));
    present(3, "{}");
    EXPECT_EQ(read(Device::kParamsLength), 2u);
    EXPECT_EQ(read(Device::kParamsOffset, 4), 0x7d7bu);
    EXPECT_EQ(read(Device::kParamsOffset + 2, 8), 0u);
    EXPECT_EQ(read(Device::kParamsOffset + 96, 4), 0u);
}

TEST_F(GenerationDeviceTest, ParametersFillTheWholePageButNoMore)
{
    present(2, std::string(4096, 'p'));
    EXPECT_EQ(read(Device::kParamsLength), 4096u);
    EXPECT_EQ(read(Device::kParamsOffset + 4095, 1), 'p');

    auto refused = m_device->present(3, std::string(4097, 'q'));
    ASSERT_FALSE(refused);
    EXPECT_EQ(
        refused.error().message(), "generation device: parameters are 4097 bytes, limit is 4096");
    EXPECT_EQ(read(Device::kGenerationLow), 2u);
    EXPECT_EQ(read(Device::kParamsOffset, 1), 'p');
}

// What a guest reads without trapping, once the page is mapped into it.
TEST_F(GenerationDeviceTest, TheParameterPageIsAWholeHostPageHoldingWhatWasPresented)
{
    auto page = m_device->params_page();
    ASSERT_EQ(page.size(), Device::kParamsPageSize);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(page.data()) % static_cast<uintptr_t>(sysconf(_SC_PAGESIZE)), 0u);

    present(2, std::string(100, 'x'));
    present(3, "{\"generation\":3}");
    std::string expected = "{\"generation\":3}";
    expected.resize(Device::kParamsPageSize, '\0');
    EXPECT_EQ(std::string(page.begin(), page.end()), expected);

    ASSERT_TRUE(m_device->restore_state(m_device->save_state()));
    EXPECT_EQ(std::string(page.begin(), page.end()), std::string(Device::kParamsPageSize, '\0'));
}

TEST_F(GenerationDeviceTest, GenerationZeroIsRefused)
{
    EXPECT_FALSE(m_device->present(0, "{}"));
    EXPECT_EQ(read(Device::kInterruptStatus), 0u);
    EXPECT_FALSE(m_line.level());
}

TEST_F(GenerationDeviceTest, SaveAndRestoreRoundTrip)
{
    present(0x0000'0003'0000'0004, "{}");
    write(Device::kAppliedLow, 3);
    NamedValues state = m_device->save_state();
    EXPECT_EQ(state,
        (NamedValues{{"applied_generation", "0x0000000000000003"},
            {"generation", "0x0000000300000004"}, {"interrupt_status", "0x00000001"}}));

    FakeLine line;
    auto restored = Device::create(line).value();
    ASSERT_TRUE(restored->restore_state(state));
    EXPECT_TRUE(line.level());
    EXPECT_EQ(restored->save_state(), state);
    EXPECT_EQ(restored->applied_generation(), 3u);
    EXPECT_EQ(restored->generation(), 0x0000'0003'0000'0004u);
    std::vector<uint8_t> data(4);
    restored->mmio_read(Device::kParamsLength, data);
    EXPECT_EQ(data, std::vector<uint8_t>(4, 0));
}

TEST_F(GenerationDeviceTest, RestoreWithoutPendingGenerationLeavesTheLineLow)
{
    present(4, "{}");
    write(Device::kInterruptAck, 1);
    FakeLine line;
    auto restored = Device::create(line).value();
    ASSERT_TRUE(restored->restore_state(m_device->save_state()));
    EXPECT_FALSE(line.level());
    EXPECT_EQ(line.calls(), 0);
}

TEST_F(GenerationDeviceTest, RestoreRefusesAnythingButTheSavedFields)
{
    NamedValues good = m_device->save_state();
    auto refusal = [&](NamedValues state) {
        FakeLine line;
        auto device = Device::create(line).value();
        auto restored = device->restore_state(state);
        EXPECT_EQ(device->save_state(), good); // untouched
        EXPECT_FALSE(line.level());
        return restored ? std::string() : restored.error().message();
    };
    NamedValues extra = good;
    extra["params_length"] = "0x00000000";
    EXPECT_EQ(refusal(extra), "device field params_length: unknown");
    NamedValues missing = good;
    missing.erase("applied_generation");
    EXPECT_EQ(refusal(missing), "device field applied_generation: missing");
    NamedValues narrow = good;
    narrow["generation"] = "0x00000001";
    EXPECT_NE(refusal(narrow).find("not a 64-bit value"), std::string::npos);
    NamedValues bits = good;
    bits["interrupt_status"] = "0x00000002";
    EXPECT_EQ(refusal(bits), "device field interrupt_status: 0x00000002: above 0x1");
    EXPECT_NE(refusal({}), "");
}

TEST_F(GenerationDeviceTest, GuestAccessesFromSeveralThreadsAreSerialized)
{
    present(0x0000'0005'0000'0005, "{}");
    std::vector<std::thread> threads;
    for (int thread = 0; thread < 4; thread++) {
        threads.emplace_back([&, thread] {
            for (uint32_t round = 0; round < 2000; round++) {
                write(thread % 2 ? Device::kAppliedHigh : Device::kAppliedLow, round);
                EXPECT_EQ(read(Device::kGenerationHigh), 5u);
                EXPECT_EQ(read(Device::kMagicRegister), Device::kMagic);
            }
        });
    }
    for (auto& thread : threads)
        thread.join();
    EXPECT_EQ(m_device->applied_generation(), 0x0000'07cf'0000'07cfu);
}

} // namespace
} // namespace spore
