#include "virtio/queue.h"

#include <gtest/gtest.h>

#include "virtio/testing/driver_queue.h"

namespace spore {
namespace {

using testing::DriverQueue;
using testing::kDescriptorIndirect;
using testing::kDescriptorNext;
using testing::kDescriptorWrite;
using testing::RawDescriptor;

constexpr GuestAddress kBase{0x4000'0000};
constexpr uint64_t kRamSize = 64 * 1024;
constexpr uint16_t kSize = 16;
constexpr GuestAddress kBuffers = kBase + 0x1000;
constexpr uint64_t kBufferCapacity = 0x8000;

std::vector<uint8_t> bytes_of(std::string_view text)
{
    return {text.begin(), text.end()};
}

class QueueTest : public ::testing::Test {
protected:
    QueueTest()
        : m_memory(std::move(GuestMemory::create(kBase, kRamSize)).value())
        , m_driver(m_memory, kBase, kSize, kBuffers, kBufferCapacity)
    {
    }

    Queue make_queue(uint32_t max_chain_length = kDefaultMaxChainLength)
    {
        auto queue = Queue::create(m_memory, m_driver.config(), kSize, max_chain_length);
        EXPECT_TRUE(queue.has_value());
        return std::move(queue).value();
    }

    // Publishes a one-descriptor chain with the given raw fields.
    void offer_raw(uint16_t index, uint64_t address, uint32_t length, uint16_t flags = 0)
    {
        m_driver.write_descriptor(index, RawDescriptor{address, length, flags, 0});
        m_driver.publish(index);
    }

    GuestMemory m_memory;
    DriverQueue m_driver;
};

TEST_F(QueueTest, PopReturnsNothingWhenDriverOfferedNothing)
{
    auto queue = make_queue();
    auto chain = queue.pop();
    ASSERT_TRUE(chain.has_value());
    EXPECT_FALSE(chain->has_value());
}

TEST_F(QueueTest, ReadableThenWritableChainIsPoppedInOrder)
{
    auto queue = make_queue();
    uint16_t head = m_driver.offer({bytes_of("hello "), bytes_of("world")}, {8, 4});

    auto chain = queue.pop();
    ASSERT_TRUE(chain.has_value() && chain->has_value());
    EXPECT_EQ((*chain)->head(), head);
    EXPECT_EQ((*chain)->readable().size(), 2u);
    EXPECT_EQ((*chain)->writable().size(), 2u);
    EXPECT_EQ((*chain)->readable_length(), 11u);
    EXPECT_EQ((*chain)->writable_length(), 12u);

    auto bytes = (*chain)->read_all(m_memory, 1024);
    ASSERT_TRUE(bytes.has_value());
    EXPECT_EQ(*bytes, bytes_of("hello world"));
}

TEST_F(QueueTest, ReadAllStopsAtTheBound)
{
    auto queue = make_queue();
    m_driver.offer({bytes_of("abc"), bytes_of("def")});
    auto chain = std::move(queue.pop()).value();
    auto bytes = chain->read_all(m_memory, 4);
    ASSERT_TRUE(bytes.has_value());
    EXPECT_EQ(*bytes, bytes_of("abcd"));
}

TEST_F(QueueTest, WriteAtSpansWritableSegments)
{
    auto queue = make_queue();
    m_driver.offer({}, {4, 4});
    auto chain = std::move(queue.pop()).value();
    ASSERT_TRUE(chain->write_at(m_memory, 2, bytes_of("123456")).has_value());
    ASSERT_TRUE(queue.add_used(chain->head(), 8).has_value());

    auto used = m_driver.take_used();
    ASSERT_TRUE(used.has_value());
    EXPECT_EQ(used->written, (std::vector<uint8_t>{0, 0, '1', '2', '3', '4', '5', '6'}));
}

TEST_F(QueueTest, WritePastWritableEndIsRefused)
{
    auto queue = make_queue();
    m_driver.offer({}, {4});
    auto chain = std::move(queue.pop()).value();
    EXPECT_FALSE(chain->write_at(m_memory, 1, bytes_of("abcd")).has_value());
    EXPECT_TRUE(chain->write_at(m_memory, 0, bytes_of("abcd")).has_value());
}

TEST_F(QueueTest, AddUsedPublishesHeadAndLength)
{
    auto queue = make_queue();
    uint16_t head = m_driver.offer({bytes_of("x")});
    auto chain = std::move(queue.pop()).value();
    ASSERT_TRUE(queue.add_used(chain->head(), 0).has_value());

    auto used = m_driver.take_used();
    ASSERT_TRUE(used.has_value());
    EXPECT_EQ(used->head, head);
    EXPECT_EQ(used->length, 0u);
}

TEST_F(QueueTest, DescriptorLoopIsRejected)
{
    auto queue = make_queue();
    m_driver.write_descriptor(0, RawDescriptor{kBuffers.value, 8, kDescriptorNext, 1});
    m_driver.write_descriptor(1, RawDescriptor{kBuffers.value, 8, kDescriptorNext, 0});
    m_driver.publish(0);
    EXPECT_FALSE(queue.pop().has_value());
    EXPECT_TRUE(queue.broken());
}

TEST_F(QueueTest, ChainUsingEveryDescriptorOnceIsAccepted)
{
    auto queue = make_queue();
    for (uint16_t index = 0; index < kSize; index++) {
        bool last = index + 1 == kSize;
        m_driver.write_descriptor(index,
            RawDescriptor{kBuffers.value, 8, last ? uint16_t{0} : kDescriptorNext,
                static_cast<uint16_t>(index + 1)});
    }
    m_driver.publish(0);
    auto chain = queue.pop();
    ASSERT_TRUE(chain.has_value() && chain->has_value());
    EXPECT_EQ((*chain)->readable().size(), kSize);
}

TEST_F(QueueTest, HeadIndexOutOfRangeIsRejected)
{
    auto queue = make_queue();
    m_driver.publish(kSize);
    EXPECT_FALSE(queue.pop().has_value());
}

TEST_F(QueueTest, NextIndexOutOfRangeIsRejected)
{
    auto queue = make_queue();
    m_driver.write_descriptor(0, RawDescriptor{kBuffers.value, 8, kDescriptorNext, kSize});
    m_driver.publish(0);
    EXPECT_FALSE(queue.pop().has_value());
}

TEST_F(QueueTest, BufferEndingExactlyAtEndOfRamIsAccepted)
{
    auto queue = make_queue();
    offer_raw(0, kBase.value + kRamSize - 16, 16);
    auto chain = queue.pop();
    ASSERT_TRUE(chain.has_value() && chain->has_value());
}

TEST_F(QueueTest, BufferEndingOneBytePastRamIsRejected)
{
    auto queue = make_queue();
    offer_raw(0, kBase.value + kRamSize - 16, 17);
    EXPECT_FALSE(queue.pop().has_value());
}

TEST_F(QueueTest, BufferBelowRamIsRejected)
{
    auto queue = make_queue();
    offer_raw(0, kBase.value - 1, 2, kDescriptorWrite);
    EXPECT_FALSE(queue.pop().has_value());
}

TEST_F(QueueTest, BufferWrappingTheAddressSpaceIsRejected)
{
    auto queue = make_queue();
    offer_raw(0, UINT64_MAX - 3, 8);
    EXPECT_FALSE(queue.pop().has_value());
}

TEST_F(QueueTest, ChainAtTheLengthLimitIsAccepted)
{
    auto queue = make_queue(12);
    m_driver.offer({bytes_of("12345678")}, {4});
    auto chain = queue.pop();
    ASSERT_TRUE(chain.has_value() && chain->has_value());
}

TEST_F(QueueTest, ChainOverTheLengthLimitIsRejected)
{
    auto queue = make_queue(12);
    m_driver.offer({bytes_of("12345678")}, {5});
    EXPECT_FALSE(queue.pop().has_value());
}

TEST_F(QueueTest, HugeDescriptorLengthsDoNotOverflowTheLimit)
{
    auto queue = make_queue();
    m_driver.write_descriptor(0, RawDescriptor{kBase.value, UINT32_MAX, kDescriptorNext, 1});
    m_driver.write_descriptor(1, RawDescriptor{kBase.value, UINT32_MAX, 0, 0});
    m_driver.publish(0);
    EXPECT_FALSE(queue.pop().has_value());
}

TEST_F(QueueTest, WritableBeforeReadableIsRejected)
{
    auto queue = make_queue();
    m_driver.write_descriptor(
        0, RawDescriptor{kBuffers.value, 8, kDescriptorNext | kDescriptorWrite, 1});
    m_driver.write_descriptor(1, RawDescriptor{kBuffers.value, 8, 0, 0});
    m_driver.publish(0);
    EXPECT_FALSE(queue.pop().has_value());
}

TEST_F(QueueTest, IndirectDescriptorIsRejected)
{
    auto queue = make_queue();
    offer_raw(0, kBuffers.value, 16, kDescriptorIndirect);
    EXPECT_FALSE(queue.pop().has_value());
}

TEST_F(QueueTest, BrokenQueueRefusesLaterChains)
{
    auto queue = make_queue();
    m_driver.publish(kSize);
    EXPECT_FALSE(queue.pop().has_value());
    m_driver.offer({bytes_of("fine")});
    EXPECT_FALSE(queue.pop().has_value());
    EXPECT_TRUE(queue.broken());
}

TEST_F(QueueTest, AvailIndexFarAheadIsRejected)
{
    auto queue = make_queue();
    m_driver.set_avail_index(kSize + 1);
    EXPECT_FALSE(queue.pop().has_value());
}

TEST_F(QueueTest, AvailAndUsedIndicesWrapAround)
{
    auto queue = make_queue();
    m_driver.write_descriptor(3, RawDescriptor{kBuffers.value, 8, kDescriptorWrite, 0});
    // Two more chains than the 16-bit indices count, one at a time.
    constexpr uint32_t kRounds = 65536 + 2;
    for (uint32_t round = 0; round < kRounds; round++) {
        m_driver.publish(3);
        auto chain = queue.pop();
        ASSERT_TRUE(chain.has_value() && chain->has_value()) << "round " << round;
        ASSERT_EQ((*chain)->head(), 3);
        ASSERT_TRUE(queue.add_used(3, 1).has_value());
        ASSERT_FALSE(std::move(queue.pop()).value().has_value());
    }
    auto used_index = m_memory.load_u16_acquire(m_driver.config().used_ring + 2);
    EXPECT_EQ(*used_index, static_cast<uint16_t>(kRounds));
}

TEST_F(QueueTest, FullRingOfChainsPopsInOrder)
{
    auto queue = make_queue();
    std::vector<uint16_t> heads;
    for (uint16_t count = 0; count < kSize; count++)
        heads.push_back(m_driver.offer({bytes_of("x")}));
    for (uint16_t head : heads) {
        auto chain = queue.pop();
        ASSERT_TRUE(chain.has_value() && chain->has_value());
        EXPECT_EQ((*chain)->head(), head);
    }
}

TEST_F(QueueTest, PositionCountsPoppedAndReturnedChains)
{
    auto queue = make_queue();
    m_driver.offer({bytes_of("a")});
    m_driver.offer({bytes_of("b")});
    auto first = std::move(queue.pop()).value();
    auto second = std::move(queue.pop()).value();
    ASSERT_TRUE(first && second);
    ASSERT_TRUE(queue.add_used(first->head(), 0).has_value());
    EXPECT_EQ(queue.position(), (QueuePosition{2, 1}));
    EXPECT_EQ(*queue.avail_index(), 2);
}

TEST_F(QueueTest, RestoredQueueContinuesFromItsPosition)
{
    // A first device life: three chains popped and returned.
    auto queue = make_queue();
    for (int round = 0; round < 3; round++) {
        m_driver.offer({bytes_of("old")});
        auto chain = std::move(queue.pop()).value();
        ASSERT_TRUE(chain.has_value());
        ASSERT_TRUE(queue.add_used(chain->head(), 0).has_value());
        ASSERT_TRUE(m_driver.take_used().has_value());
    }
    auto position = queue.position();
    ASSERT_EQ(position, (QueuePosition{3, 3}));

    uint16_t head = m_driver.offer({bytes_of("new")});
    auto restored
        = Queue::restore(m_memory, m_driver.config(), kSize, kDefaultMaxChainLength, position);
    ASSERT_TRUE(restored.has_value()) << restored.error().message();
    auto chain = std::move(restored->pop()).value();
    ASSERT_TRUE(chain.has_value());
    EXPECT_EQ(chain->head(), head);
    EXPECT_EQ(*chain->read_all(m_memory, 16), bytes_of("new"));
    ASSERT_TRUE(restored->add_used(chain->head(), 0).has_value());
    auto used = m_driver.take_used();
    ASSERT_TRUE(used.has_value());
    EXPECT_EQ(used->head, head);
}

TEST_F(QueueTest, RestoreRefusesUsedIndexOtherThanInMemory)
{
    auto restored = Queue::restore(
        m_memory, m_driver.config(), kSize, kDefaultMaxChainLength, QueuePosition{5, 5});
    ASSERT_FALSE(restored.has_value());
    EXPECT_EQ(restored.error().message(), "virtqueue: used index in guest memory is 0, expected 5");
}

TEST_F(QueueTest, RestoreRefusesInvalidLayout)
{
    auto config = m_driver.config();
    config.size = 12;
    EXPECT_FALSE(Queue::restore(m_memory, config, kSize, kDefaultMaxChainLength, {}).has_value());
}

class QueueLayoutTest : public QueueTest {
protected:
    Result<void> validate(QueueConfig config, uint16_t max_size = 256)
    {
        return Queue::validate(m_memory, config, max_size);
    }
    QueueConfig good() const { return m_driver.config(); }
};

TEST_F(QueueLayoutTest, LinuxLayoutIsAccepted)
{
    EXPECT_TRUE(validate(good()).has_value());
}

TEST_F(QueueLayoutTest, SizeNotPowerOfTwoIsRejected)
{
    auto config = good();
    config.size = 12;
    EXPECT_FALSE(validate(config).has_value());
}

TEST_F(QueueLayoutTest, ZeroSizeIsRejected)
{
    auto config = good();
    config.size = 0;
    EXPECT_FALSE(validate(config).has_value());
}

TEST_F(QueueLayoutTest, SizeAboveDeviceMaximumIsRejected)
{
    EXPECT_FALSE(validate(good(), kSize / 2).has_value());
}

TEST_F(QueueLayoutTest, MisalignedDescriptorTableIsRejected)
{
    auto config = good();
    config.descriptor_table = config.descriptor_table + 8;
    EXPECT_FALSE(validate(config).has_value());
}

TEST_F(QueueLayoutTest, MisalignedAvailRingIsRejected)
{
    auto config = good();
    config.avail_ring = config.avail_ring + 1;
    EXPECT_FALSE(validate(config).has_value());
}

TEST_F(QueueLayoutTest, MisalignedUsedRingIsRejected)
{
    auto config = good();
    config.used_ring = config.used_ring + 2;
    EXPECT_FALSE(validate(config).has_value());
}

TEST_F(QueueLayoutTest, AvailRingEndingExactlyAtEndOfRamIsAccepted)
{
    auto config = good();
    config.avail_ring = kBase + (kRamSize - (6 + 2 * kSize));
    EXPECT_TRUE(validate(config).has_value());
}

TEST_F(QueueLayoutTest, AvailRingEndingTwoBytesPastRamIsRejected)
{
    auto config = good();
    config.avail_ring = kBase + (kRamSize - (6 + 2 * kSize) + 2);
    EXPECT_FALSE(validate(config).has_value());
}

TEST_F(QueueLayoutTest, UsedRingEndingPastRamIsRejected)
{
    auto config = good();
    config.used_ring = kBase + (kRamSize - 8 * kSize);
    EXPECT_FALSE(validate(config).has_value());
}

TEST_F(QueueLayoutTest, DescriptorTableOutsideRamIsRejected)
{
    auto config = good();
    config.descriptor_table = GuestAddress(0x1000);
    EXPECT_FALSE(validate(config).has_value());
}

TEST_F(QueueLayoutTest, EachAreaIsCheckedOnItsOwn)
{
    auto config = good();
    config.avail_ring = config.avail_ring + 1;
    EXPECT_TRUE(Queue::validate_size(config.size, 256).has_value());
    EXPECT_TRUE(Queue::validate_area(m_memory, config, QueueArea::DescriptorTable).has_value());
    EXPECT_TRUE(Queue::validate_area(m_memory, config, QueueArea::UsedRing).has_value());
    auto avail = Queue::validate_area(m_memory, config, QueueArea::AvailRing);
    ASSERT_FALSE(avail.has_value());
    EXPECT_EQ(avail.error().message(), "virtqueue: avail ring at 0x40000101: not 2-byte aligned");
}

TEST_F(QueueLayoutTest, SizeIsCheckedOnItsOwn)
{
    EXPECT_EQ(
        Queue::validate_size(0, 256).error().message(), "virtqueue: size 0: not a power of two");
    EXPECT_EQ(Queue::validate_size(512, 256).error().message(),
        "virtqueue: size 512: larger than the maximum 256");
}

} // namespace
} // namespace spore
