#include "virtio/mmio_transport.h"

#include <gtest/gtest.h>

#include <array>

#include "common/hex_value.h"
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
        m_positions = positions_of(activation.queues);
        m_activated_restored = activation.restored;
        return {};
    }
    void queue_notify(uint16_t queue_index) override { m_notified.push_back(queue_index); }
    void reset() override
    {
        m_resets++;
        m_signal = nullptr;
        m_positions.clear();
    }
    Result<void> quiesce() override
    {
        if (m_refuse_quiesce)
            return Error::invalid("fake: busy");
        m_quiesces++;
        return {};
    }
    Result<void> resume() override
    {
        m_resumes++;
        return {};
    }
    std::vector<QueuePosition> queue_positions() const override { return m_positions; }
    Result<NamedValues> save_state() const override { return m_fields; }
    Result<void> restore_state(const NamedValues& values) override
    {
        if (values.contains("refused"))
            return Error::invalid("device field refused: unknown");
        m_fields = values;
        return {};
    }

    std::array<uint8_t, 8> m_config{1, 2, 3, 4, 5, 6, 7, 8};
    int m_activations = 0;
    int m_resets = 0;
    size_t m_queue_count = 0;
    uint64_t m_driver_features = 0;
    std::vector<uint16_t> m_notified;
    std::function<void()> m_signal;
    std::vector<QueuePosition> m_positions; // as the queues stand, or as a test pretends
    bool m_activated_restored = false;
    bool m_refuse_quiesce = false;
    int m_quiesces = 0;
    int m_resumes = 0;
    NamedValues m_fields{{"colour", "0x00000007"}};
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

// Used index 3 on queue 0, as if the device had returned three chains.
constexpr uint16_t kUsedChains = 3;

class MmioTransportSnapshotTest : public MmioTransportTest {
protected:
    // A running device that returned kUsedChains chains on queue 0, quiesced
    // and saved.
    DeviceState capture_running()
    {
        bring_up();
        auto used_index = queue_layout(0).used_ring + 2;
        EXPECT_TRUE(m_memory.store_u16_release(used_index, kUsedChains).has_value());
        m_device->m_positions[0] = {kUsedChains, kUsedChains};
        EXPECT_TRUE(m_transport->quiesce().has_value());
        auto state = m_transport->save_state("fake");
        EXPECT_TRUE(state.has_value());
        return state ? *state : DeviceState{};
    }

    // Restores state around a fresh device on m_restored_line.
    Result<std::unique_ptr<VirtioMmioTransport>> restore(const DeviceState& state)
    {
        auto device = std::make_unique<FakeDevice>();
        m_restored_device = device.get();
        return VirtioMmioTransport::restore(std::move(device), m_memory, m_restored_line, state);
    }

    // Restoring state must fail with exactly message.
    void expect_refused(const DeviceState& state, const std::string& message)
    {
        auto restored = restore(state);
        ASSERT_FALSE(restored.has_value());
        EXPECT_EQ(restored.error().code(), ErrorCode::InvalidInput);
        EXPECT_EQ(restored.error().message(), message);
    }

    // Continues on the restored transport as if it were the original.
    void adopt(std::unique_ptr<VirtioMmioTransport> transport)
    {
        m_transport = std::move(transport);
        m_device = m_restored_device;
    }

    FakeInterruptLine m_restored_line;
    FakeDevice* m_restored_device = nullptr;
};

TEST_F(MmioTransportSnapshotTest, SaveWithoutQuiesceIsRefused)
{
    bring_up();
    auto state = m_transport->save_state("fake");
    ASSERT_FALSE(state.has_value());
    EXPECT_EQ(state.error().message(), "fake: state saved without quiesce");
}

TEST_F(MmioTransportSnapshotTest, SavedFieldsNameEveryRegister)
{
    auto state = capture_running();
    EXPECT_EQ(state.slot, "fake");
    EXPECT_EQ(state.device_id, 42u);
    NamedValues expected{
        {"status", "0x0000000f"},
        {"device_features_select", "0x00000000"},
        {"driver_features_select", "0x00000001"},
        {"driver_features", "0x0000000100000000"},
        {"queue_select", "0x00000001"},
        {"interrupt_status", "0x00000000"},
    };
    for (int index = 0; index < 2; index++) {
        auto config = queue_layout(static_cast<uint16_t>(index));
        auto prefix = "queue." + std::to_string(index) + ".";
        expected[prefix + "size"] = format_hex_u32(kMaxSize);
        expected[prefix + "ready"] = "0x00000001";
        expected[prefix + "descriptor_table"] = format_hex_u64(config.descriptor_table.value);
        expected[prefix + "avail_ring"] = format_hex_u64(config.avail_ring.value);
        expected[prefix + "used_ring"] = format_hex_u64(config.used_ring.value);
        expected[prefix + "next_avail"] = format_hex_u32(index == 0 ? kUsedChains : 0);
        expected[prefix + "next_used"] = format_hex_u32(index == 0 ? kUsedChains : 0);
    }
    EXPECT_EQ(state.transport, expected);
    EXPECT_EQ(state.device, (NamedValues{{"colour", "0x00000007"}}));
}

TEST_F(MmioTransportSnapshotTest, RestoreActivatesDeviceOnQueuesAtSavedPositions)
{
    auto state = capture_running();
    auto restored = restore(state);
    ASSERT_TRUE(restored.has_value()) << restored.error().message();
    adopt(std::move(restored).value());

    EXPECT_EQ(m_device->m_activations, 1);
    EXPECT_TRUE(m_device->m_activated_restored);
    EXPECT_EQ(m_device->m_driver_features, kVirtioFeatureVersion1);
    EXPECT_EQ(
        m_device->m_positions, (std::vector<QueuePosition>{{kUsedChains, kUsedChains}, {0, 0}}));
    EXPECT_EQ(m_device->m_fields, state.device);
    EXPECT_EQ(read(kStatus), 0x0fu);
    EXPECT_EQ(read(kQueueReady), 1u); // queue 1 is still selected
    EXPECT_FALSE(m_restored_line.m_level);

    // The driver goes on: notifications reach the device, and a second
    // capture saves the same state.
    write(kQueueNotify, 0);
    EXPECT_EQ(m_device->m_notified, std::vector<uint16_t>{0});
    ASSERT_TRUE(m_transport->quiesce().has_value());
    auto again = m_transport->save_state("fake");
    ASSERT_TRUE(again.has_value());
    EXPECT_EQ(again->transport, state.transport);
    EXPECT_EQ(again->device, state.device);
}

TEST_F(MmioTransportSnapshotTest, RestoredInterruptStatusAssertsTheLine)
{
    bring_up();
    m_device->m_signal();
    ASSERT_TRUE(m_transport->quiesce().has_value());
    auto state = std::move(m_transport->save_state("fake")).value();
    EXPECT_EQ(state.transport["interrupt_status"], "0x00000001");

    auto restored = restore(state);
    ASSERT_TRUE(restored.has_value()) << restored.error().message();
    adopt(std::move(restored).value());
    EXPECT_TRUE(m_restored_line.m_level);
    EXPECT_EQ(read(kInterruptStatus), kVirtioInterruptUsedBuffer);
    write(kInterruptAcknowledge, kVirtioInterruptUsedBuffer);
    EXPECT_FALSE(m_restored_line.m_level);
}

TEST_F(MmioTransportSnapshotTest, DeviceNotStartedIsRestoredMidProbe)
{
    negotiate(kVirtioFeatureVersion1);
    set_up_queue(0, queue_layout(0));
    write(kQueueSelect, 1);
    write(kQueueSize, 10); // not valid, but the driver may still fix it
    ASSERT_TRUE(m_transport->quiesce().has_value());
    auto state = std::move(m_transport->save_state("fake")).value();

    auto restored = restore(state);
    ASSERT_TRUE(restored.has_value()) << restored.error().message();
    adopt(std::move(restored).value());
    EXPECT_EQ(m_device->m_activations, 0);
    set_up_queue(1, queue_layout(1));
    write(kStatus, read(kStatus) | kVirtioStatusDriverOk);
    EXPECT_EQ(m_device->m_activations, 1);
    EXPECT_FALSE(m_device->m_activated_restored);
}

TEST_F(MmioTransportSnapshotTest, QuiesceFailsAndResumesWhileChainsAreHeld)
{
    bring_up();
    m_device->m_positions[1] = {2, 0};
    auto quiet = m_transport->quiesce();
    ASSERT_FALSE(quiet.has_value());
    EXPECT_EQ(quiet.error().message(),
        "virtio-mmio: device 42: queue 1: 2 chains still popped and not returned after quiesce");
    EXPECT_EQ(m_device->m_resumes, 1);
    EXPECT_FALSE(m_transport->save_state("fake").has_value());
}

TEST_F(MmioTransportSnapshotTest, QuiesceFailsWhenUsedIndexDisagreesWithMemory)
{
    bring_up();
    m_device->m_positions[0] = {1, 1}; // but guest memory still says 0
    auto quiet = m_transport->quiesce();
    ASSERT_FALSE(quiet.has_value());
    EXPECT_EQ(quiet.error().message(),
        "virtio-mmio: device 42: queue 0: virtqueue: used index in guest memory is 0, expected 1");
}

TEST_F(MmioTransportSnapshotTest, DeviceRefusingToQuiesceFailsTheCapture)
{
    bring_up();
    m_device->m_refuse_quiesce = true;
    auto quiet = m_transport->quiesce();
    ASSERT_FALSE(quiet.has_value());
    EXPECT_EQ(quiet.error().message(), "fake: busy");
    EXPECT_FALSE(m_transport->save_state("fake").has_value());
}

TEST_F(MmioTransportSnapshotTest, WritesWhileQuiescedAreDroppedUntilResume)
{
    bring_up();
    ASSERT_TRUE(m_transport->quiesce().has_value());
    EXPECT_FALSE(m_transport->quiesce().has_value());
    write(kQueueNotify, 0);
    write(kStatus, 0);
    EXPECT_TRUE(m_device->m_notified.empty());
    EXPECT_EQ(read(kStatus), 0x0fu);

    ASSERT_TRUE(m_transport->resume().has_value());
    EXPECT_EQ(m_device->m_resumes, 1);
    write(kQueueNotify, 0);
    EXPECT_EQ(m_device->m_notified, std::vector<uint16_t>{0});
    EXPECT_FALSE(m_transport->resume().has_value());
}

TEST_F(MmioTransportSnapshotTest, UnknownFieldIsRefused)
{
    auto state = capture_running();
    state.transport["queue.2.size"] = "0x00000010";
    expect_refused(state, "fake: transport field queue.2.size: unknown");
}

TEST_F(MmioTransportSnapshotTest, MissingFieldIsRefused)
{
    auto state = capture_running();
    state.transport.erase("queue.1.avail_ring");
    expect_refused(state, "fake: transport field queue.1.avail_ring: missing");
}

TEST_F(MmioTransportSnapshotTest, MalformedValueIsRefused)
{
    auto state = capture_running();
    state.transport["status"] = "0xf";
    expect_refused(state,
        "fake: transport field status: \"0xf\": not a 32-bit value (0x and 8 lower-case hex "
        "digits)");
    state.transport["status"] = "0x000000000000000f";
    expect_refused(state,
        "fake: transport field status: \"0x000000000000000f\": not a 32-bit value (0x and 8 "
        "lower-case hex digits)");
}

TEST_F(MmioTransportSnapshotTest, OtherDeviceIdIsRefused)
{
    auto state = capture_running();
    state.device_id = 19;
    expect_refused(state, "fake: device id 19 in the spore, but this device is 42");
}

TEST_F(MmioTransportSnapshotTest, FeatureNotOfferedIsRefused)
{
    auto state = capture_running();
    state.transport["driver_features"] = format_hex_u64(kVirtioFeatureVersion1 | 1 << 5);
    expect_refused(state,
        "fake: transport field driver_features: 0x0000000100000020: not a subset of the offered "
        "features 0x0000000100000001");
}

TEST_F(MmioTransportSnapshotTest, DriverOkWithoutFeaturesOkIsRefused)
{
    auto state = capture_running();
    state.transport["status"]
        = format_hex_u32(kVirtioStatusAcknowledge | kVirtioStatusDriver | kVirtioStatusDriverOk);
    expect_refused(
        state, "fake: transport field status: 0x00000007: DRIVER_OK without FEATURES_OK");
}

TEST_F(MmioTransportSnapshotTest, UnknownInterruptBitsAreRefused)
{
    auto state = capture_running();
    state.transport["interrupt_status"] = "0x00000004";
    expect_refused(state, "fake: transport field interrupt_status: 0x00000004: unknown bits");
}

TEST_F(MmioTransportSnapshotTest, QueueSizeNotPowerOfTwoIsRefused)
{
    auto state = capture_running();
    state.transport["queue.1.size"] = "0x0000000c";
    expect_refused(
        state, "fake: transport field queue.1.size: virtqueue: size 12: not a power of two");
    state.transport["queue.1.size"] = "0x00010000";
    expect_refused(
        state, "fake: transport field queue.1.size: 0x00010000: larger than the maximum 16");
}

TEST_F(MmioTransportSnapshotTest, RingOutsideRamIsRefused)
{
    auto state = capture_running();
    state.transport["queue.0.used_ring"] = format_hex_u64(kBase.value + kRamSize - 64);
    expect_refused(state,
        "fake: transport field queue.0.used_ring: virtqueue: used ring at 0x4000ffc0+0x86: "
        "outside RAM");
}

TEST_F(MmioTransportSnapshotTest, MisalignedRingIsRefused)
{
    auto state = capture_running();
    state.transport["queue.1.descriptor_table"] = format_hex_u64(kBase.value + 0x1008);
    expect_refused(state,
        "fake: transport field queue.1.descriptor_table: virtqueue: descriptor table at "
        "0x40001008: not 16-byte aligned");
}

TEST_F(MmioTransportSnapshotTest, QueueNotReadyWhileRunningIsRefused)
{
    auto state = capture_running();
    state.transport["queue.0.ready"] = "0x00000000";
    expect_refused(
        state, "fake: transport field queue.0.ready: 0 while the device runs (DRIVER_OK)");
    state.transport["queue.0.ready"] = "0x00000002";
    expect_refused(state, "fake: transport field queue.0.ready: 0x00000002: above 0x1");
}

TEST_F(MmioTransportSnapshotTest, UsedIndexMismatchWithMemoryIsRefused)
{
    auto state = capture_running();
    ASSERT_TRUE(m_memory.store_u16_release(queue_layout(0).used_ring + 2, 7).has_value());
    expect_refused(state,
        "fake: transport field queue.0.next_used: virtqueue: used index in guest memory is 7, "
        "expected 3");
}

TEST_F(MmioTransportSnapshotTest, ChainsInFlightAreRefused)
{
    auto state = capture_running();
    state.transport["queue.0.next_avail"] = "0x00000004";
    expect_refused(state,
        "fake: transport field queue.0.next_avail: 0x00000004: differs from next_used "
        "0x00000003, chains were in flight");
    state.transport["queue.0.next_avail"] = "0x00010003";
    expect_refused(state, "fake: transport field queue.0.next_avail: 0x00010003: above 0xffff");
}

TEST_F(MmioTransportSnapshotTest, PositionOfQueueNotStartedIsRefused)
{
    negotiate(kVirtioFeatureVersion1);
    ASSERT_TRUE(m_transport->quiesce().has_value());
    auto state = std::move(m_transport->save_state("fake")).value();
    state.transport["queue.1.next_used"] = "0x00000001";
    expect_refused(state,
        "fake: transport field queue.1.next_used: 0x00000001: nonzero for a queue the device "
        "has not started");
}

TEST_F(MmioTransportSnapshotTest, DeviceFieldRefusalIsReported)
{
    auto state = capture_running();
    state.device["refused"] = "0x00000000";
    expect_refused(state, "fake: device field refused: unknown");
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
    Result<void> quiesce() override { return {}; }
    Result<void> resume() override { return {}; }
    std::vector<QueuePosition> queue_positions() const override { return {}; }
    Result<NamedValues> save_state() const override { return NamedValues{}; }
    Result<void> restore_state(const NamedValues&) override { return {}; }

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
