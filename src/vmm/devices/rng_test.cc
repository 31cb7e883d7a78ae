#include "vmm/devices/rng.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "virtio/mmio_transport.h"
#include "virtio/testing/guest_driver.h"

namespace spore {
namespace {

using testing::GuestDriver;

class RngTest : public ::testing::Test {
protected:
    RngTest()
        : m_driver(1, 16)
        , m_rng(std::move(RngDevice::create()).value())
    {
        EXPECT_TRUE(m_driver.activate(*m_rng).has_value());
    }

    GuestDriver m_driver;
    std::unique_ptr<RngDevice> m_rng;
};

TEST_F(RngTest, WritableBufferIsFilledCompletely)
{
    auto& queue = m_driver.queue(0);
    queue.offer({}, {256});
    m_rng->queue_notify(0);

    auto used = queue.take_used();
    ASSERT_TRUE(used.has_value());
    EXPECT_EQ(used->length, 256u);
    // 256 random bytes are all zero with probability 2^-2048.
    EXPECT_TRUE(std::any_of(
        used->written.begin(), used->written.end(), [](uint8_t byte) { return byte != 0; }));
    EXPECT_EQ(m_driver.interrupts(), 1u);
}

TEST_F(RngTest, BuffersAcrossSeveralDescriptorsAreFilled)
{
    auto& queue = m_driver.queue(0);
    queue.offer({}, {16, 16});
    m_rng->queue_notify(0);
    auto used = queue.take_used();
    ASSERT_TRUE(used.has_value());
    EXPECT_EQ(used->length, 32u);
}

TEST_F(RngTest, LargeRequestIsAnsweredWithTheBound)
{
    auto& queue = m_driver.queue(0);
    queue.offer({}, {RngDevice::kMaxBytesPerRequest + 4096});
    m_rng->queue_notify(0);
    auto used = queue.take_used();
    ASSERT_TRUE(used.has_value());
    EXPECT_EQ(used->length, RngDevice::kMaxBytesPerRequest);
}

TEST_F(RngTest, ChainWithoutWritableBufferIsReturnedEmpty)
{
    auto& queue = m_driver.queue(0);
    queue.offer({{1, 2, 3}});
    m_rng->queue_notify(0);
    auto used = queue.take_used();
    ASSERT_TRUE(used.has_value());
    EXPECT_EQ(used->length, 0u);
}

TEST_F(RngTest, EveryPendingRequestIsAnswered)
{
    auto& queue = m_driver.queue(0);
    for (int request = 0; request < 4; request++)
        queue.offer({}, {8});
    m_rng->queue_notify(0);
    for (int request = 0; request < 4; request++)
        EXPECT_TRUE(queue.take_used().has_value());
}

TEST_F(RngTest, SavesNoFieldsAndRestoresNone)
{
    ASSERT_TRUE(m_rng->quiesce().has_value());
    EXPECT_EQ(m_rng->queue_positions(), std::vector<QueuePosition>{{}});
    EXPECT_EQ(m_rng->save_state().value(), NamedValues{});
    ASSERT_TRUE(m_rng->resume().has_value());
    auto fresh = std::move(RngDevice::create()).value();
    EXPECT_TRUE(fresh->restore_state({}).has_value());
    auto refused = fresh->restore_state({{"seed", "0x00000001"}});
    ASSERT_FALSE(refused.has_value());
    EXPECT_EQ(refused.error().message(), "device field seed: unknown");
}

class NullLine final : public InterruptLine {
public:
    void set_level(bool asserted) override { m_level = asserted; }
    bool m_level = false;
};

// Requests keep being answered by a device restored around the same guest
// memory, and the interrupt pending at capture is pending again.
TEST(RngSnapshot, RequestsAreAnsweredByTheRestoredDevice)
{
    GuestDriver driver(1, 16);
    NullLine line;
    auto transport = std::move(
        VirtioMmioTransport::create(std::move(RngDevice::create()).value(), driver.memory(), line))
                         .value();
    ASSERT_TRUE(driver.probe(*transport));
    auto& queue = driver.queue(0);
    for (int request = 0; request < 5; request++) {
        queue.offer({}, {32});
        driver.notify(*transport, 0);
        ASSERT_TRUE(queue.take_used().has_value());
    }
    ASSERT_TRUE(transport->quiesce().has_value());
    auto state = std::move(transport->save_state("rng")).value();
    EXPECT_EQ(state.transport.at("queue.0.next_avail"), "0x00000005");
    EXPECT_EQ(state.transport.at("interrupt_status"), "0x00000001");
    transport.reset();

    NullLine restored_line;
    auto restored = VirtioMmioTransport::restore(
        std::move(RngDevice::create()).value(), driver.memory(), restored_line, state);
    ASSERT_TRUE(restored.has_value()) << restored.error().message();
    EXPECT_TRUE(restored_line.m_level);

    queue.offer({}, {64});
    driver.notify(**restored, 0);
    auto used = queue.take_used();
    ASSERT_TRUE(used.has_value());
    EXPECT_EQ(used->length, 64u);
    EXPECT_TRUE(std::any_of(
        used->written.begin(), used->written.end(), [](uint8_t byte) { return byte != 0; }));
}

} // namespace
} // namespace spore
