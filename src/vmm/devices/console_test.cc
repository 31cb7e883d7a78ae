#include "vmm/devices/console.h"

#include <gtest/gtest.h>

#include <array>
#include <cstring>

#include "virtio/mmio_transport.h"
#include "virtio/testing/guest_driver.h"

namespace spore {
namespace {

using testing::GuestDriver;

constexpr uint16_t kReceiveQueue = 0;
constexpr uint16_t kTransmitQueue = 1;

std::vector<uint8_t> bytes_of(std::string_view text)
{
    return {text.begin(), text.end()};
}

class ConsoleTest : public ::testing::Test {
protected:
    ConsoleTest()
        : m_driver(2, 64)
    {
        m_console = std::move(ConsoleDevice::create([this](std::string_view bytes) {
            m_output.append(bytes);
        })).value();
        EXPECT_TRUE(m_driver.activate(*m_console).has_value());
    }

    GuestDriver m_driver;
    std::string m_output;
    std::unique_ptr<ConsoleDevice> m_console;
};

TEST_F(ConsoleTest, TransmittedBytesArriveAtTheSink)
{
    m_driver.queue(kTransmitQueue).offer({bytes_of("hello, "), bytes_of("world\n")});
    m_console->queue_notify(kTransmitQueue);
    EXPECT_EQ(m_output, "hello, world\n");
}

TEST_F(ConsoleTest, TransmitBuffersAreReturnedAndSignalled)
{
    auto& queue = m_driver.queue(kTransmitQueue);
    uint16_t first = queue.offer({bytes_of("a")});
    uint16_t second = queue.offer({bytes_of("b")});
    m_console->queue_notify(kTransmitQueue);

    EXPECT_EQ(queue.take_used()->head, first);
    EXPECT_EQ(queue.take_used()->head, second);
    EXPECT_EQ(m_driver.interrupts(), 1u);
    EXPECT_EQ(m_output, "ab");
}

TEST_F(ConsoleTest, ReceiveBuffersAreKeptSinceThereIsNoInput)
{
    auto& queue = m_driver.queue(kReceiveQueue);
    queue.offer({}, {64});
    m_console->queue_notify(kReceiveQueue);
    EXPECT_FALSE(queue.take_used().has_value());
    EXPECT_EQ(m_driver.interrupts(), 0u);
}

TEST_F(ConsoleTest, MalformedChainStopsTheQueueWithoutOutput)
{
    auto& queue = m_driver.queue(kTransmitQueue);
    queue.publish(1000);
    queue.offer({bytes_of("after")});
    m_console->queue_notify(kTransmitQueue);
    m_console->queue_notify(kTransmitQueue);
    EXPECT_EQ(m_output, "");
}

TEST_F(ConsoleTest, ConfigurationReadsAsZero)
{
    std::array<uint8_t, 4> data{0xff, 0xff, 0xff, 0xff};
    m_console->read_config(0, data);
    EXPECT_EQ(data, (std::array<uint8_t, 4>{}));
}

TEST_F(ConsoleTest, ResetDropsTheQueues)
{
    m_console->reset();
    m_driver.queue(kTransmitQueue).offer({bytes_of("late")});
    m_console->queue_notify(kTransmitQueue);
    EXPECT_EQ(m_output, "");
}

class RecordingLine final : public InterruptLine {
public:
    void set_level(bool asserted) override { m_level = asserted; }
    bool m_level = false;
};

void write_register(MmioDevice& device, uint64_t offset, uint32_t value)
{
    std::array<uint8_t, 4> data;
    std::memcpy(data.data(), &value, sizeof value);
    device.mmio_write(offset, data);
}

void write_address(MmioDevice& device, uint64_t low_offset, GuestAddress address)
{
    write_register(device, low_offset, static_cast<uint32_t>(address.value));
    write_register(device, low_offset + 4, static_cast<uint32_t>(address.value >> 32));
}

// Brings the console up through virtio-mmio registers in the order Linux
// uses, then prints through it.
TEST(ConsoleOverMmio, OutputArrivesAfterLinuxStyleProbe)
{
    GuestDriver driver(2, 64);
    RecordingLine line;
    std::string output;
    auto console = std::move(ConsoleDevice::create([&](std::string_view bytes) {
        output.append(bytes);
    })).value();
    auto transport
        = std::move(VirtioMmioTransport::create(std::move(console), driver.memory(), line)).value();

    write_register(*transport, 0x070, 0); // reset
    write_register(*transport, 0x070, kVirtioStatusAcknowledge | kVirtioStatusDriver);
    write_register(*transport, 0x024, 1); // driver features, high word
    write_register(*transport, 0x020, 1); // VERSION_1
    write_register(*transport, 0x070,
        kVirtioStatusAcknowledge | kVirtioStatusDriver | kVirtioStatusFeaturesOk);
    for (uint16_t index = 0; index < 2; index++) {
        auto config = driver.queue(index).config();
        write_register(*transport, 0x030, index);
        write_register(*transport, 0x038, config.size);
        write_address(*transport, 0x080, config.descriptor_table);
        write_address(*transport, 0x090, config.avail_ring);
        write_address(*transport, 0x0a0, config.used_ring);
        write_register(*transport, 0x044, 1);
    }
    write_register(*transport, 0x070,
        kVirtioStatusAcknowledge | kVirtioStatusDriver | kVirtioStatusFeaturesOk
            | kVirtioStatusDriverOk);

    driver.queue(kTransmitQueue).offer({bytes_of("booted\n")});
    write_register(*transport, 0x050, kTransmitQueue);
    EXPECT_EQ(output, "booted\n");
    EXPECT_TRUE(line.m_level);
    write_register(*transport, 0x064, kVirtioInterruptUsedBuffer);
    EXPECT_FALSE(line.m_level);
}

TEST(ConsoleCreate, EmptySinkIsRefused)
{
    EXPECT_FALSE(ConsoleDevice::create(nullptr).has_value());
}

TEST_F(ConsoleTest, QuiesceAndResumeKeepTheQueuesWhereTheyAre)
{
    m_driver.queue(kReceiveQueue).offer({}, {64});
    m_driver.queue(kTransmitQueue).offer({bytes_of("a")});
    m_console->queue_notify(kTransmitQueue);
    ASSERT_TRUE(m_console->quiesce().has_value());
    EXPECT_EQ(m_console->queue_positions(), (std::vector<QueuePosition>{{0, 0}, {1, 1}}));
    ASSERT_TRUE(m_console->resume().has_value());
    m_driver.queue(kTransmitQueue).offer({bytes_of("b")});
    m_console->queue_notify(kTransmitQueue);
    EXPECT_EQ(m_output, "ab");
}

TEST_F(ConsoleTest, SavesNoFieldsAndRestoresNone)
{
    ASSERT_TRUE(m_console->quiesce().has_value());
    EXPECT_EQ(m_console->save_state().value(), NamedValues{});
    auto fresh = std::move(ConsoleDevice::create([](std::string_view) {})).value();
    EXPECT_TRUE(fresh->restore_state({}).has_value());
    auto refused = fresh->restore_state({{"cols", "0x00000050"}});
    ASSERT_FALSE(refused.has_value());
    EXPECT_EQ(refused.error().message(), "device field cols: unknown");
}

// A console captured mid-session and restored around a fresh device on the
// same guest memory: the driver keeps printing through the same queues.
TEST(ConsoleSnapshot, OutputContinuesOnTheRestoredDevice)
{
    GuestDriver driver(2, 64);
    RecordingLine line;
    std::string output;
    auto console = std::move(ConsoleDevice::create([&](std::string_view bytes) {
        output.append(bytes);
    })).value();
    auto transport
        = std::move(VirtioMmioTransport::create(std::move(console), driver.memory(), line)).value();
    ASSERT_TRUE(driver.probe(*transport));
    driver.queue(kReceiveQueue).offer({}, {64}); // kept by the device, never popped
    for (auto text : {"one\n", "two\n"}) {
        driver.queue(kTransmitQueue).offer({bytes_of(text)});
        driver.notify(*transport, kTransmitQueue);
        ASSERT_TRUE(driver.queue(kTransmitQueue).take_used().has_value());
    }
    write_register(*transport, 0x064, kVirtioInterruptUsedBuffer);
    ASSERT_EQ(output, "one\ntwo\n");

    ASSERT_TRUE(transport->quiesce().has_value());
    auto state = transport->save_state("console");
    ASSERT_TRUE(state.has_value()) << state.error().message();
    EXPECT_TRUE(state->device.empty());
    EXPECT_EQ(state->transport.at("queue.1.next_used"), "0x00000002");
    EXPECT_EQ(state->transport.at("queue.0.next_avail"), "0x00000000");
    transport.reset();

    RecordingLine restored_line;
    std::string restored_output;
    auto fresh = std::move(ConsoleDevice::create([&](std::string_view bytes) {
        restored_output.append(bytes);
    })).value();
    auto restored
        = VirtioMmioTransport::restore(std::move(fresh), driver.memory(), restored_line, *state);
    ASSERT_TRUE(restored.has_value()) << restored.error().message();
    EXPECT_FALSE(restored_line.m_level);

    driver.queue(kTransmitQueue).offer({bytes_of("three\n")});
    driver.notify(**restored, kTransmitQueue);
    EXPECT_EQ(restored_output, "three\n");
    EXPECT_TRUE(driver.queue(kTransmitQueue).take_used().has_value());
    EXPECT_TRUE(restored_line.m_level);
}

} // namespace
} // namespace spore
