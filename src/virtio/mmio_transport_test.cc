#include "virtio/mmio_transport.h"

#include <gtest/gtest.h>

#include <array>

#include "virtio/testing/driver_queue.h"

namespace spore {
namespace {

constexpr GuestAddress kBase{0x4000'0000};
constexpr uint64_t kRamSize = 64 * 1024;
constexpr uint16_t kMaxSize = 16;
constexpr uint64_t kDeviceFeatureBit = 1; // device-specific feature 0

// Register offsets the tests poke, from virtio 1.2 §4.2.2.
enum Register : uint64_t {
    kMagic = 0x000,
    kVersion = 0x004,
    kDeviceId = 0x008,
    kVendorId = 0x00c,
    kDeviceFeatures = 0x010,
    kDeviceFeaturesSelect = 0x014,
    kDriverFeatures = 0x020,
    kDriverFeaturesSelect = 0x024,
    kQueueSelect = 0x030,
    kQueueSizeMax = 0x034,
    kQueueSize = 0x038,
    kQueueReady = 0x044,
    kQueueNotify = 0x050,
    kInterruptStatus = 0x060,
    kInterruptAcknowledge = 0x064,
    kStatus = 0x070,
    kQueueDescriptorLow = 0x080,
    kQueueDescriptorHigh = 0x084,
    kQueueDriverLow = 0x090,
    kQueueDriverHigh = 0x094,
    kQueueDeviceLow = 0x0a0,
    kQueueDeviceHigh = 0x0a4,
    kConfigGeneration = 0x0fc,
    kConfig = 0x100,
};

class FakeDevice final : public VirtioDevice {
public:
    VirtioDeviceInfo info() const override
    {
        return {.device_id = 42,
            .features = kVirtioFeatureVersion1 | kDeviceFeatureBit,
            .queue_count = 2,
            .max_queue_size = kMaxSize};
    }
    void read_config(uint64_t offset, std::span<uint8_t> data) const override
    {
        copy_config(m_config, offset, data);
    }
    void write_config(uint64_t offset, std::span<const uint8_t> data) override
    {
        if (offset < m_config.size() && data.size() <= m_config.size() - offset)
            std::copy(data.begin(), data.end(), m_config.begin() + offset);
    }
    Result<void> activate(VirtioActivation activation) override
    {
        m_activations++;
        m_queue_count = activation.queues.size();
        m_driver_features = activation.driver_features;
        m_signal = std::move(activation.signal_used_buffer);
        return {};
    }
    void queue_notify(uint16_t queue_index) override { m_notified.push_back(queue_index); }
    void reset() override
    {
        m_resets++;
        m_signal = nullptr;
    }

    std::array<uint8_t, 8> m_config{1, 2, 3, 4, 5, 6, 7, 8};
    int m_activations = 0;
    int m_resets = 0;
    size_t m_queue_count = 0;
    uint64_t m_driver_features = 0;
    std::vector<uint16_t> m_notified;
    std::function<void()> m_signal;
};

class FakeInterruptLine final : public InterruptLine {
public:
    void set_level(bool asserted) override
    {
        m_level = asserted;
        m_changes++;
    }
    bool m_level = false;
    int m_changes = 0;
};

class MmioTransportTest : public ::testing::Test {
protected:
    MmioTransportTest()
        : m_memory(std::move(GuestMemory::create(kBase, kRamSize)).value())
    {
        auto device = std::make_unique<FakeDevice>();
        m_device = device.get();
        m_transport
            = std::move(VirtioMmioTransport::create(std::move(device), m_memory, m_line)).value();
    }

    uint32_t read(uint64_t offset)
    {
        std::array<uint8_t, 4> data{};
        m_transport->mmio_read(offset, data);
        uint32_t value;
        std::memcpy(&value, data.data(), 4);
        return value;
    }

    void write(uint64_t offset, uint32_t value)
    {
        std::array<uint8_t, 4> data;
        std::memcpy(data.data(), &value, 4);
        m_transport->mmio_write(offset, data);
    }

    void negotiate(uint64_t features)
    {
        write(kStatus, kVirtioStatusAcknowledge | kVirtioStatusDriver);
        write(kDriverFeaturesSelect, 0);
        write(kDriverFeatures, static_cast<uint32_t>(features));
        write(kDriverFeaturesSelect, 1);
        write(kDriverFeatures, static_cast<uint32_t>(features >> 32));
        write(kStatus, kVirtioStatusAcknowledge | kVirtioStatusDriver | kVirtioStatusFeaturesOk);
    }

    void set_up_queue(uint16_t index, const QueueConfig& config)
    {
        write(kQueueSelect, index);
        write(kQueueSize, config.size);
        write(kQueueDescriptorLow, static_cast<uint32_t>(config.descriptor_table.value));
        write(kQueueDescriptorHigh, static_cast<uint32_t>(config.descriptor_table.value >> 32));
        write(kQueueDriverLow, static_cast<uint32_t>(config.avail_ring.value));
        write(kQueueDriverHigh, static_cast<uint32_t>(config.avail_ring.value >> 32));
        write(kQueueDeviceLow, static_cast<uint32_t>(config.used_ring.value));
        write(kQueueDeviceHigh, static_cast<uint32_t>(config.used_ring.value >> 32));
        write(kQueueReady, 1);
    }

    QueueConfig queue_layout(uint16_t index)
    {
        GuestAddress rings = kBase + 0x1000 * uint64_t{index};
        return testing::DriverQueue(m_memory, rings, kMaxSize, kBase + 0x8000, 0x1000).config();
    }

    void bring_up()
    {
        negotiate(kVirtioFeatureVersion1);
        set_up_queue(0, queue_layout(0));
        set_up_queue(1, queue_layout(1));
        write(kStatus, read(kStatus) | kVirtioStatusDriverOk);
    }

    GuestMemory m_memory;
    FakeInterruptLine m_line;
    FakeDevice* m_device = nullptr;
    std::unique_ptr<VirtioMmioTransport> m_transport;
};

TEST_F(MmioTransportTest, IdentifiesAsVirtioMmioVersion2)
{
    EXPECT_EQ(read(kMagic), 0x74726976u);
    EXPECT_EQ(read(kVersion), 2u);
    EXPECT_EQ(read(kDeviceId), 42u);
    EXPECT_EQ(read(kVendorId), 0x53504f52u);
    EXPECT_EQ(read(kConfigGeneration), 0u);
}

TEST_F(MmioTransportTest, DeviceFeaturesAreReadThroughTheSelector)
{
    write(kDeviceFeaturesSelect, 0);
    EXPECT_EQ(read(kDeviceFeatures), kDeviceFeatureBit);
    write(kDeviceFeaturesSelect, 1);
    EXPECT_EQ(read(kDeviceFeatures), 1u); // VERSION_1 is bit 32
    write(kDeviceFeaturesSelect, 2);
    EXPECT_EQ(read(kDeviceFeatures), 0u);
}

TEST_F(MmioTransportTest, FeaturesOkIsKeptForOfferedSubset)
{
    negotiate(kVirtioFeatureVersion1 | kDeviceFeatureBit);
    EXPECT_TRUE(read(kStatus) & kVirtioStatusFeaturesOk);
}

TEST_F(MmioTransportTest, FeaturesOkIsRefusedForUnofferedFeature)
{
    negotiate(kVirtioFeatureVersion1 | kVirtioFeatureEventIndex);
    EXPECT_FALSE(read(kStatus) & kVirtioStatusFeaturesOk);
}

TEST_F(MmioTransportTest, FeaturesOkIsRefusedWithoutVersion1)
{
    negotiate(kDeviceFeatureBit);
    EXPECT_FALSE(read(kStatus) & kVirtioStatusFeaturesOk);
}

TEST_F(MmioTransportTest, DriverFeaturesAreFrozenAfterFeaturesOk)
{
    negotiate(kVirtioFeatureVersion1);
    write(kDriverFeaturesSelect, 0);
    write(kDriverFeatures, 0xffff'ffff);
    set_up_queue(0, queue_layout(0));
    set_up_queue(1, queue_layout(1));
    write(kStatus, read(kStatus) | kVirtioStatusDriverOk);
    EXPECT_EQ(m_device->m_driver_features, kVirtioFeatureVersion1);
}

TEST_F(MmioTransportTest, DriverOkActivatesDeviceWithAllQueues)
{
    bring_up();
    EXPECT_EQ(m_device->m_activations, 1);
    EXPECT_EQ(m_device->m_queue_count, 2u);
    EXPECT_EQ(m_device->m_driver_features, kVirtioFeatureVersion1);
    EXPECT_TRUE(read(kStatus) & kVirtioStatusDriverOk);
}

TEST_F(MmioTransportTest, DriverOkWithQueueNotReadyAsksForReset)
{
    negotiate(kVirtioFeatureVersion1);
    set_up_queue(0, queue_layout(0));
    write(kStatus, read(kStatus) | kVirtioStatusDriverOk);
    EXPECT_EQ(m_device->m_activations, 0);
    EXPECT_FALSE(read(kStatus) & kVirtioStatusDriverOk);
    EXPECT_TRUE(read(kStatus) & kVirtioStatusDeviceNeedsReset);
}

TEST_F(MmioTransportTest, DriverOkWithoutFeaturesOkDoesNotActivate)
{
    write(kStatus, kVirtioStatusAcknowledge | kVirtioStatusDriver | kVirtioStatusDriverOk);
    EXPECT_EQ(m_device->m_activations, 0);
}

TEST_F(MmioTransportTest, QueueSizeMaxIsZeroForQueueThatDoesNotExist)
{
    write(kQueueSelect, 1);
    EXPECT_EQ(read(kQueueSizeMax), kMaxSize);
    write(kQueueSelect, 2);
    EXPECT_EQ(read(kQueueSizeMax), 0u);
}

TEST_F(MmioTransportTest, QueueReadyIsRefusedForSizeNotPowerOfTwo)
{
    auto config = queue_layout(0);
    config.size = 10;
    set_up_queue(0, config);
    EXPECT_EQ(read(kQueueReady), 0u);
}

TEST_F(MmioTransportTest, QueueReadyIsRefusedForMisalignedRing)
{
    auto config = queue_layout(0);
    config.used_ring = config.used_ring + 2;
    set_up_queue(0, config);
    EXPECT_EQ(read(kQueueReady), 0u);
}

TEST_F(MmioTransportTest, QueueReadyIsKeptForValidLayout)
{
    set_up_queue(0, queue_layout(0));
    EXPECT_EQ(read(kQueueReady), 1u);
}

TEST_F(MmioTransportTest, NotifyReachesDeviceOnlyWhenActive)
{
    write(kQueueNotify, 0);
    EXPECT_TRUE(m_device->m_notified.empty());
    bring_up();
    write(kQueueNotify, 1);
    write(kQueueNotify, 7);
    EXPECT_EQ(m_device->m_notified, std::vector<uint16_t>{1});
}

TEST_F(MmioTransportTest, WritingZeroStatusResetsDeviceAndQueues)
{
    bring_up();
    int resets_before = m_device->m_resets;
    write(kStatus, 0);
    EXPECT_EQ(m_device->m_resets, resets_before + 1);
    EXPECT_EQ(read(kStatus), 0u);
    write(kQueueSelect, 0);
    EXPECT_EQ(read(kQueueReady), 0u);
    write(kQueueNotify, 0);
    EXPECT_TRUE(m_device->m_notified.empty());
}

TEST_F(MmioTransportTest, StatusWriteClearingBitsIsIgnored)
{
    negotiate(kVirtioFeatureVersion1);
    write(kStatus, kVirtioStatusAcknowledge);
    EXPECT_EQ(
        read(kStatus), kVirtioStatusAcknowledge | kVirtioStatusDriver | kVirtioStatusFeaturesOk);
}

TEST_F(MmioTransportTest, UsedBufferInterruptAssertsLineUntilAcknowledged)
{
    bring_up();
    m_device->m_signal();
    EXPECT_TRUE(m_line.m_level);
    EXPECT_EQ(read(kInterruptStatus), kVirtioInterruptUsedBuffer);

    write(kInterruptAcknowledge, kVirtioInterruptConfigChange);
    EXPECT_TRUE(m_line.m_level);
    write(kInterruptAcknowledge, kVirtioInterruptUsedBuffer);
    EXPECT_FALSE(m_line.m_level);
    EXPECT_EQ(read(kInterruptStatus), 0u);
}

TEST_F(MmioTransportTest, RepeatedSignalsDoNotToggleTheLine)
{
    bring_up();
    m_device->m_signal();
    m_device->m_signal();
    EXPECT_EQ(m_line.m_changes, 1);
}

TEST_F(MmioTransportTest, ResetLowersAssertedLine)
{
    bring_up();
    m_device->m_signal();
    write(kStatus, 0);
    EXPECT_FALSE(m_line.m_level);
    EXPECT_EQ(read(kInterruptStatus), 0u);
}

TEST_F(MmioTransportTest, NarrowRegisterAccessIsIgnored)
{
    std::array<uint8_t, 2> narrow{0xff, 0xff};
    m_transport->mmio_read(kMagic, narrow);
    EXPECT_EQ(narrow, (std::array<uint8_t, 2>{0, 0}));

    std::array<uint8_t, 2> status{kVirtioStatusAcknowledge, 0};
    m_transport->mmio_write(kStatus, status);
    EXPECT_EQ(read(kStatus), 0u);
}

TEST_F(MmioTransportTest, MisalignedRegisterAccessIsIgnored)
{
    EXPECT_EQ(read(kMagic + 2), 0u);
    write(kStatus + 1, kVirtioStatusAcknowledge);
    EXPECT_EQ(read(kStatus), 0u);
}

TEST_F(MmioTransportTest, UnknownRegisterReadsZero)
{
    EXPECT_EQ(read(0x0f0), 0u);
    EXPECT_EQ(read(kQueueNotify), 0u);
}

TEST_F(MmioTransportTest, ConfigSpaceTakesNarrowAccesses)
{
    std::array<uint8_t, 1> byte{};
    m_transport->mmio_read(kConfig + 2, byte);
    EXPECT_EQ(byte[0], 3);
    EXPECT_EQ(read(kConfig + 4), 0x08070605u);

    std::array<uint8_t, 2> update{0xaa, 0xbb};
    m_transport->mmio_write(kConfig, update);
    EXPECT_EQ(read(kConfig), 0x0403bbaau);
}

TEST_F(MmioTransportTest, OddWidthConfigAccessIsIgnored)
{
    std::array<uint8_t, 3> odd{0xff, 0xff, 0xff};
    m_transport->mmio_read(kConfig, odd);
    EXPECT_EQ(odd, (std::array<uint8_t, 3>{0, 0, 0}));
}

TEST_F(MmioTransportTest, ConfigPastDeviceStructureReadsZero)
{
    EXPECT_EQ(read(kConfig + 8), 0u);
    EXPECT_EQ(read(VirtioMmioTransport::kWindowSize - 4), 0u);
}

class BadDevice final : public VirtioDevice {
public:
    explicit BadDevice(VirtioDeviceInfo info)
        : m_info(info)
    {
    }
    VirtioDeviceInfo info() const override { return m_info; }
    void read_config(uint64_t, std::span<uint8_t>) const override { }
    void write_config(uint64_t, std::span<const uint8_t>) override { }
    Result<void> activate(VirtioActivation) override { return {}; }
    void queue_notify(uint16_t) override { }
    void reset() override { }

private:
    VirtioDeviceInfo m_info;
};

TEST(MmioTransportCreate, DeviceWithoutVersion1IsRefused)
{
    auto memory = std::move(GuestMemory::create(kBase, kRamSize)).value();
    FakeInterruptLine line;
    VirtioDeviceInfo info{.device_id = 1, .features = 0, .queue_count = 1};
    EXPECT_FALSE(VirtioMmioTransport::create(std::make_unique<BadDevice>(info), memory, line));
}

TEST(MmioTransportCreate, DeviceOfferingEventIndexIsRefused)
{
    auto memory = std::move(GuestMemory::create(kBase, kRamSize)).value();
    FakeInterruptLine line;
    VirtioDeviceInfo info{.device_id = 1,
        .features = kVirtioFeatureVersion1 | kVirtioFeatureEventIndex,
        .queue_count = 1};
    EXPECT_FALSE(VirtioMmioTransport::create(std::make_unique<BadDevice>(info), memory, line));
}

TEST(MmioTransportCreate, MaximumQueueSizeNotPowerOfTwoIsRefused)
{
    auto memory = std::move(GuestMemory::create(kBase, kRamSize)).value();
    FakeInterruptLine line;
    VirtioDeviceInfo info{.device_id = 1, .queue_count = 1, .max_queue_size = 100};
    EXPECT_FALSE(VirtioMmioTransport::create(std::make_unique<BadDevice>(info), memory, line));
}

} // namespace
} // namespace spore
