#include "vmm/devices/rng.h"

#include <gtest/gtest.h>

#include <algorithm>

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

} // namespace
} // namespace spore
