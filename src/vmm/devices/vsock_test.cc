#include "vmm/devices/vsock.h"

#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>

#include <atomic>
#include <cstring>
#include <future>
#include <thread>

#include "virtio/mmio_transport.h"
#include "virtio/testing/guest_driver.h"

namespace spore {
namespace {

using namespace std::chrono_literals;
using testing::GuestDriver;

constexpr uint64_t kGuestCid = 3;
constexpr uint16_t kRxQueue = 0;
constexpr uint16_t kTxQueue = 1;
constexpr uint16_t kEventQueue = 2;
constexpr uint32_t kGuestPort = 5000;
constexpr uint32_t kRxPayloadSize = 4096;
constexpr uint32_t kInitialRxBuffers = 64;
// Linux posts eight event buffers of one struct virtio_vsock_event each.
constexpr uint32_t kEventBuffers = 8;
constexpr uint32_t kEventSize = 4;
constexpr uint32_t kEventTransportReset = 0;

struct GuestPacket {
    VsockHeader header;
    std::vector<uint8_t> payload;
};

std::vector<uint8_t> pattern(size_t size, uint8_t seed)
{
    std::vector<uint8_t> bytes(size);
    for (size_t index = 0; index < size; index++)
        bytes[index] = static_cast<uint8_t>(index * 31 + seed + index / 251);
    return bytes;
}

// Reads up to limit bytes, waiting at most timeout; an empty result is EOF
// (or a reset), nullopt a timeout.
std::optional<std::vector<uint8_t>> read_some(
    int fd, size_t limit, std::chrono::milliseconds timeout)
{
    pollfd poll_fd{fd, POLLIN, 0};
    if (poll(&poll_fd, 1, static_cast<int>(timeout.count())) <= 0)
        return std::nullopt;
    std::vector<uint8_t> bytes(limit);
    ssize_t got = recv(fd, bytes.data(), bytes.size(), MSG_DONTWAIT);
    bytes.resize(got > 0 ? static_cast<size_t>(got) : 0);
    return bytes;
}

std::vector<uint8_t> read_exactly(int fd, size_t size)
{
    std::vector<uint8_t> bytes;
    while (bytes.size() < size) {
        auto chunk = read_some(fd, size - bytes.size(), 2s);
        if (!chunk || chunk->empty())
            break;
        bytes.insert(bytes.end(), chunk->begin(), chunk->end());
    }
    return bytes;
}

bool reads_eof(int fd)
{
    auto chunk = read_some(fd, 1, 1s);
    return chunk && chunk->empty();
}

// Plays the guest's vsock driver: keeps the receive queue stocked, sends
// packets on the transmit queue and decodes what the device delivers.
class VsockTest : public ::testing::Test {
protected:
    VsockTest()
        : m_driver(3, 256)
        , m_owned(std::move(VsockDevice::create(kGuestCid)).value())
        , m_device(m_owned.get())
    {
    }

    // Rings a doorbell: through the transport when there is one.
    void notify(uint16_t queue_index)
    {
        if (m_transport)
            m_driver.notify(*m_transport, queue_index);
        else
            m_device->queue_notify(queue_index);
    }

    void start()
    {
        ASSERT_TRUE(m_driver.activate(*m_device).has_value());
        post_rx(kInitialRxBuffers);
    }

    void post_rx(uint32_t count)
    {
        for (uint32_t buffer = 0; buffer < count; buffer++)
            m_driver.queue(kRxQueue).offer({}, {kVsockHeaderSize + kRxPayloadSize});
        notify(kRxQueue);
    }

    VsockHeader header(VsockOp op, uint32_t flags = 0)
    {
        return {.source_cid = kGuestCid,
            .destination_cid = kVsockHostCid,
            .source_port = kGuestPort,
            .destination_port = m_host_port,
            .op = op,
            .flags = flags,
            .buffer_allocation = m_guest_buffer,
            .forward_count = m_guest_forwarded};
    }

    void send(VsockHeader packet_header, const std::vector<uint8_t>& payload = {})
    {
        packet_header.length = static_cast<uint32_t>(payload.size());
        auto encoded = encode_vsock_header(packet_header);
        std::vector<std::vector<uint8_t>> buffers{{encoded.begin(), encoded.end()}};
        if (!payload.empty())
            buffers.push_back(payload);
        auto& tx = m_driver.queue(kTxQueue);
        tx.offer(buffers);
        notify(kTxQueue);
        while (tx.take_used()) { }
    }

    // The next packet the device delivers; its buffer is replaced at once.
    // Buffers returned unused are skipped, as Linux drops them.
    std::optional<GuestPacket> receive(std::chrono::milliseconds timeout = 1s)
    {
        auto used = m_driver.queue(kRxQueue).wait_used(timeout);
        while (used && used->length < kVsockHeaderSize) {
            post_rx(1);
            used = m_driver.queue(kRxQueue).wait_used(timeout);
        }
        if (!used)
            return std::nullopt;
        post_rx(1);
        auto decoded = decode_vsock_header(used->written);
        if (!decoded)
            return std::nullopt;
        GuestPacket packet{
            *decoded, {used->written.begin() + kVsockHeaderSize, used->written.end()}};
        EXPECT_EQ(packet.header.length, packet.payload.size());
        return packet;
    }

    // Opens a connection from the host, answering the request as the guest.
    UniqueFd establish()
    {
        auto pending
            = std::async(std::launch::async, [this] { return m_device->connect(kGuestPort, 2s); });
        auto request = receive();
        EXPECT_TRUE(request && request->header.op == VsockOp::Request);
        if (!request)
            return {};
        m_host_port = request->header.source_port;
        send(header(VsockOp::Response));
        auto connection = pending.get();
        EXPECT_TRUE(connection.has_value());
        return connection ? std::move(connection).value() : UniqueFd();
    }

    GuestDriver m_driver;
    std::unique_ptr<VsockDevice> m_owned; // until a transport takes it
    VsockDevice* m_device;
    std::unique_ptr<VirtioMmioTransport> m_transport;
    uint32_t m_host_port = 0;
    uint32_t m_guest_buffer = 64 * 1024;
    uint32_t m_guest_forwarded = 0;
};

TEST_F(VsockTest, ConfigurationHoldsTheGuestCid)
{
    std::array<uint8_t, 8> config{};
    m_device->read_config(0, config);
    EXPECT_EQ(config, (std::array<uint8_t, 8>{3, 0, 0, 0, 0, 0, 0, 0}));
}

TEST_F(VsockTest, HostConnectSendsRequestAndCompletesOnResponse)
{
    start();
    auto pending
        = std::async(std::launch::async, [this] { return m_device->connect(kGuestPort, 2s); });
    auto request = receive();
    ASSERT_TRUE(request.has_value());
    EXPECT_EQ(request->header.op, VsockOp::Request);
    EXPECT_EQ(request->header.source_cid, kVsockHostCid);
    EXPECT_EQ(request->header.destination_cid, kGuestCid);
    EXPECT_EQ(request->header.destination_port, kGuestPort);
    EXPECT_GE(request->header.source_port, 1024u);
    EXPECT_EQ(request->header.buffer_allocation, VsockDevice::kBufferAllocation);

    m_host_port = request->header.source_port;
    send(header(VsockOp::Response));
    auto connection = pending.get();
    ASSERT_TRUE(connection.has_value());
    EXPECT_TRUE(connection->valid());
}

TEST_F(VsockTest, EachConnectionGetsItsOwnHostPort)
{
    start();
    auto first = establish();
    uint32_t first_port = m_host_port;
    auto second = establish();
    EXPECT_NE(m_host_port, first_port);
}

TEST_F(VsockTest, RefusedConnectionReturnsNotFound)
{
    start();
    auto pending = std::async(std::launch::async, [this] { return m_device->connect(1024, 2s); });
    auto request = receive();
    ASSERT_TRUE(request.has_value());
    m_host_port = request->header.source_port;
    auto reset = header(VsockOp::Reset);
    reset.source_port = 1024;
    send(reset);

    auto connection = pending.get();
    ASSERT_FALSE(connection.has_value());
    EXPECT_EQ(connection.error().code(), ErrorCode::NotFound);
    EXPECT_EQ(connection.error().message(), "vsock: connection to guest port 1024 refused");
}

TEST_F(VsockTest, ConnectTimesOutWhenGuestNeverAnswers)
{
    start();
    auto connection = m_device->connect(kGuestPort, 30ms);
    ASSERT_FALSE(connection.has_value());
    EXPECT_EQ(connection.error().code(), ErrorCode::Timeout);

    // The guest is told to forget the request it never answered.
    auto request = receive();
    auto reset = receive();
    ASSERT_TRUE(request && reset);
    EXPECT_EQ(request->header.op, VsockOp::Request);
    EXPECT_EQ(reset->header.op, VsockOp::Reset);
    EXPECT_EQ(reset->header.source_port, request->header.source_port);
}

TEST_F(VsockTest, ConnectBeforeActivationTimesOut)
{
    auto connection = m_device->connect(kGuestPort, 20ms);
    ASSERT_FALSE(connection.has_value());
    EXPECT_EQ(connection.error().code(), ErrorCode::Timeout);
}

TEST_F(VsockTest, ConnectWaitsForTheDriverToStartTheDevice)
{
    auto pending
        = std::async(std::launch::async, [this] { return m_device->connect(kGuestPort, 2s); });
    std::this_thread::sleep_for(20ms);
    start();
    auto request = receive();
    ASSERT_TRUE(request.has_value());
    m_host_port = request->header.source_port;
    send(header(VsockOp::Response));
    EXPECT_TRUE(pending.get().has_value());
}

TEST_F(VsockTest, ResetFailsConnectInProgress)
{
    start();
    auto pending
        = std::async(std::launch::async, [this] { return m_device->connect(kGuestPort, 2s); });
    ASSERT_TRUE(receive().has_value());
    m_device->reset();
    auto connection = pending.get();
    ASSERT_FALSE(connection.has_value());
    EXPECT_EQ(connection.error().code(), ErrorCode::Guest);
}

TEST_F(VsockTest, HostBytesReachTheGuest)
{
    start();
    auto host = establish();
    ASSERT_EQ(write(host.get(), "ping", 4), 4);

    auto packet = receive();
    ASSERT_TRUE(packet.has_value());
    EXPECT_EQ(packet->header.op, VsockOp::ReadWrite);
    EXPECT_EQ(packet->header.source_port, m_host_port);
    EXPECT_EQ(packet->header.destination_port, kGuestPort);
    EXPECT_EQ(packet->payload, (std::vector<uint8_t>{'p', 'i', 'n', 'g'}));
}

TEST_F(VsockTest, GuestBytesReachTheHost)
{
    start();
    auto host = establish();
    send(header(VsockOp::ReadWrite), {'p', 'o', 'n', 'g'});
    EXPECT_EQ(read_exactly(host.get(), 4), (std::vector<uint8_t>{'p', 'o', 'n', 'g'}));
}

TEST_F(VsockTest, HostToGuestTransferStaysWithinGuestCredit)
{
    start();
    auto host = establish();
    auto sent = pattern(384 * 1024, 1);
    std::thread writer([&] {
        for (size_t offset = 0; offset < sent.size();) {
            ssize_t wrote
                = ::send(host.get(), sent.data() + offset, sent.size() - offset, MSG_NOSIGNAL);
            if (wrote <= 0)
                return;
            offset += static_cast<size_t>(wrote);
        }
    });

    std::vector<uint8_t> received;
    bool within_credit = true;
    while (received.size() < sent.size() && within_credit) {
        auto packet = receive();
        if (!packet || packet->header.op != VsockOp::ReadWrite)
            break;
        received.insert(received.end(), packet->payload.begin(), packet->payload.end());
        within_credit = received.size() - m_guest_forwarded <= m_guest_buffer;

        // The guest application consumes in 16 KiB steps and says so.
        if (received.size() - m_guest_forwarded >= 16 * 1024) {
            m_guest_forwarded = static_cast<uint32_t>(received.size());
            send(header(VsockOp::CreditUpdate));
        }
    }
    shutdown(host.get(), SHUT_RDWR); // unblocks the writer if we stopped early
    writer.join();
    EXPECT_TRUE(within_credit);
    EXPECT_EQ(received.size(), sent.size());
    EXPECT_TRUE(received == sent);
}

TEST_F(VsockTest, GuestToHostTransferWaitsForHostCredit)
{
    start();
    auto host = establish();
    auto sent = pattern(640 * 1024, 2);
    std::vector<uint8_t> received;
    std::thread reader([&] { received = read_exactly(host.get(), sent.size()); });

    // Credit the host granted: its allocation minus what we sent beyond the
    // forward count its latest credit update reported.
    uint32_t host_forwarded = 0;
    size_t offset = 0;
    while (offset < sent.size()) {
        size_t chunk = std::min<size_t>(16 * 1024, sent.size() - offset);
        uint32_t credit
            = VsockDevice::kBufferAllocation - static_cast<uint32_t>(offset - host_forwarded);
        if (credit >= chunk) {
            send(header(VsockOp::ReadWrite),
                std::vector<uint8_t>(sent.begin() + offset, sent.begin() + offset + chunk));
            offset += chunk;
            continue;
        }
        auto update = receive();
        if (!update || update->header.op != VsockOp::CreditUpdate)
            break;
        host_forwarded = update->header.forward_count;
    }
    reader.join();
    EXPECT_EQ(offset, sent.size());
    EXPECT_EQ(received.size(), sent.size());
    EXPECT_TRUE(received == sent);
}

TEST_F(VsockTest, GuestShutdownOfSendingGivesHostEof)
{
    start();
    auto host = establish();
    send(header(VsockOp::ReadWrite), {'b', 'y', 'e'});
    send(header(VsockOp::Shutdown, kVsockShutdownSend));
    EXPECT_EQ(read_exactly(host.get(), 3), (std::vector<uint8_t>{'b', 'y', 'e'}));
    EXPECT_TRUE(reads_eof(host.get()));
}

TEST_F(VsockTest, GuestFullShutdownIsAnsweredWithReset)
{
    start();
    auto host = establish();
    send(header(VsockOp::Shutdown, kVsockShutdownSend | kVsockShutdownReceive));
    auto reset = receive();
    ASSERT_TRUE(reset.has_value());
    EXPECT_EQ(reset->header.op, VsockOp::Reset);
    EXPECT_TRUE(reads_eof(host.get()));
}

TEST_F(VsockTest, GuestResetClosesTheHostEnd)
{
    start();
    auto host = establish();
    send(header(VsockOp::Reset));
    EXPECT_TRUE(reads_eof(host.get()));
    EXPECT_FALSE(receive(50ms).has_value());
}

TEST_F(VsockTest, HostCloseSendsShutdownThenReset)
{
    start();
    auto host = establish();
    host.reset();
    auto shutdown = receive();
    auto reset = receive();
    ASSERT_TRUE(shutdown && reset);
    EXPECT_EQ(shutdown->header.op, VsockOp::Shutdown);
    EXPECT_EQ(shutdown->header.flags, kVsockShutdownSend | kVsockShutdownReceive);
    EXPECT_EQ(reset->header.op, VsockOp::Reset);
}

TEST_F(VsockTest, CreditRequestIsAnsweredWithCreditUpdate)
{
    start();
    auto host = establish();
    send(header(VsockOp::ReadWrite), {'x'});
    ASSERT_EQ(read_exactly(host.get(), 1).size(), 1u);
    send(header(VsockOp::CreditRequest));
    auto update = receive();
    ASSERT_TRUE(update.has_value());
    EXPECT_EQ(update->header.op, VsockOp::CreditUpdate);
    EXPECT_EQ(update->header.forward_count, 1u);
    EXPECT_EQ(update->header.buffer_allocation, VsockDevice::kBufferAllocation);
}

TEST_F(VsockTest, GuestExceedingItsCreditIsReset)
{
    start();
    auto host = establish();
    // Nobody reads the host end, so unwritten bytes pile up past the credit.
    std::vector<uint8_t> chunk(16 * 1024, 0x5a);
    for (int packet = 0; packet < 48; packet++)
        send(header(VsockOp::ReadWrite), chunk);

    auto reply = receive();
    while (reply && reply->header.op == VsockOp::CreditUpdate)
        reply = receive();
    ASSERT_TRUE(reply.has_value());
    EXPECT_EQ(reply->header.op, VsockOp::Reset);
}

TEST_F(VsockTest, DeliveryResumesWhenGuestRefillsReceiveBuffers)
{
    m_driver.activate(*m_device).value();
    post_rx(1);
    auto pending
        = std::async(std::launch::async, [this] { return m_device->connect(kGuestPort, 2s); });
    auto request = m_driver.queue(kRxQueue).wait_used(1s);
    ASSERT_TRUE(request.has_value());
    m_host_port = decode_vsock_header(request->written)->source_port;
    send(header(VsockOp::Response));
    auto host = std::move(pending.get()).value();

    ASSERT_EQ(write(host.get(), "late", 4), 4);
    std::this_thread::sleep_for(20ms);
    EXPECT_FALSE(m_driver.queue(kRxQueue).take_used().has_value());
    post_rx(1);
    auto packet = receive();
    ASSERT_TRUE(packet.has_value());
    EXPECT_EQ(packet->payload, (std::vector<uint8_t>{'l', 'a', 't', 'e'}));
}

TEST_F(VsockTest, TransmitWaitsWhileRepliesCannotBeDelivered)
{
    ASSERT_TRUE(m_driver.activate(*m_device).has_value()); // and no receive buffers
    m_host_port = 4321; // no such connection: every packet earns a reset
    auto& tx = m_driver.queue(kTxQueue);
    auto encoded = encode_vsock_header(header(VsockOp::CreditRequest));
    size_t returned = 0;
    for (size_t packet = 0; packet < VsockDevice::kMaxQueuedReplies + 8; packet++) {
        tx.offer({{encoded.begin(), encoded.end()}});
        m_device->queue_notify(kTxQueue);
        while (tx.take_used())
            returned++;
    }
    EXPECT_EQ(returned, VsockDevice::kMaxQueuedReplies);

    post_rx(kInitialRxBuffers);
    while (tx.take_used())
        returned++;
    EXPECT_EQ(returned, VsockDevice::kMaxQueuedReplies + 8);
}

TEST_F(VsockTest, GuestInitiatedConnectionIsRefused)
{
    start();
    auto request = header(VsockOp::Request);
    request.destination_port = 80;
    send(request);
    auto reset = receive();
    ASSERT_TRUE(reset.has_value());
    EXPECT_EQ(reset->header.op, VsockOp::Reset);
    EXPECT_EQ(reset->header.source_port, 80u);
    EXPECT_EQ(reset->header.destination_port, kGuestPort);
}

TEST_F(VsockTest, DataForUnknownConnectionIsAnsweredWithReset)
{
    start();
    m_host_port = 4321;
    send(header(VsockOp::ReadWrite), {'?'});
    auto reset = receive();
    ASSERT_TRUE(reset.has_value());
    EXPECT_EQ(reset->header.op, VsockOp::Reset);
}

TEST_F(VsockTest, MalformedPacketIsDroppedSilently)
{
    start();
    auto host = establish();
    auto bad = header(VsockOp::ReadWrite);
    bad.destination_cid = 7;
    send(bad, {'x'});
    EXPECT_FALSE(receive(50ms).has_value());
    EXPECT_FALSE(read_some(host.get(), 1, 20ms).has_value());
}

TEST_F(VsockTest, ResetClosesOpenConnections)
{
    start();
    auto host = establish();
    m_device->reset();
    EXPECT_TRUE(reads_eof(host.get()));
}

TEST_F(VsockTest, DeviceWorksAgainAfterReset)
{
    start();
    m_device->reset();
    m_driver.reset_queues();
    start();
    auto host = establish();
    EXPECT_TRUE(host.valid());
}

class RecordingLine final : public InterruptLine {
public:
    void set_level(bool asserted) override { m_level = asserted; }
    std::atomic<bool> m_level = false;
};

// The device behind a virtio-mmio transport, probed the way Linux does,
// so that it can be quiesced, saved and restored as a machine does.
class VsockSnapshotTest : public VsockTest {
protected:
    VsockSnapshotTest()
    {
        m_transport
            = std::move(VirtioMmioTransport::create(std::move(m_owned), m_driver.memory(), m_line))
                  .value();
    }

    void start_over_mmio(uint32_t event_buffers = kEventBuffers)
    {
        ASSERT_TRUE(m_driver.probe(*m_transport));
        post_rx(kInitialRxBuffers);
        post_events(event_buffers);
    }

    void post_events(uint32_t count)
    {
        for (uint32_t buffer = 0; buffer < count; buffer++)
            m_driver.queue(kEventQueue).offer({}, {kEventSize});
        notify(kEventQueue);
    }

    // The next event the device returned; repost_buffer does what Linux
    // does once it has handled it.
    std::optional<uint32_t> take_event(bool repost_buffer = true)
    {
        auto used = m_driver.queue(kEventQueue).wait_used(1s);
        if (!used)
            return std::nullopt;
        EXPECT_EQ(used->length, kEventSize);
        uint32_t id = UINT32_MAX;
        if (used->written.size() == kEventSize)
            std::memcpy(&id, used->written.data(), kEventSize);
        if (repost_buffer)
            post_events(1);
        return id;
    }

    DeviceState capture()
    {
        auto quiet = m_transport->quiesce();
        EXPECT_TRUE(quiet.has_value()) << quiet.error().message();
        auto state = m_transport->save_state("vsock");
        EXPECT_TRUE(state.has_value()) << state.error().message();
        return state ? *state : DeviceState{};
    }

    // Drops the capturing device and restores state around a fresh one on
    // the same guest memory, as a restore on another host would.
    void restore(const DeviceState& state)
    {
        m_transport.reset();
        auto device = std::move(VsockDevice::create(kGuestCid)).value();
        m_device = device.get();
        auto restored
            = VirtioMmioTransport::restore(std::move(device), m_driver.memory(), m_line, state);
        ASSERT_TRUE(restored.has_value()) << restored.error().message();
        m_transport = std::move(restored).value();
    }

    // Data both ways on a connection opened after a capture.
    void expect_new_connection_works(uint32_t previous_host_port)
    {
        auto host = establish();
        ASSERT_TRUE(host.valid());
        EXPECT_GT(m_host_port, previous_host_port);
        ASSERT_EQ(write(host.get(), "ping", 4), 4);
        auto packet = receive();
        ASSERT_TRUE(packet.has_value());
        EXPECT_EQ(packet->payload, (std::vector<uint8_t>{'p', 'i', 'n', 'g'}));
        send(header(VsockOp::ReadWrite), {'p', 'o', 'n', 'g'});
        EXPECT_EQ(read_exactly(host.get(), 4), (std::vector<uint8_t>{'p', 'o', 'n', 'g'}));
    }

    RecordingLine m_line;
};

TEST_F(VsockSnapshotTest, QuiesceClosesConnectionsAfterTheGuestBytesArrive)
{
    start_over_mmio();
    auto host = establish();
    send(header(VsockOp::ReadWrite), {'l', 'a', 's', 't'});
    capture();
    EXPECT_EQ(read_exactly(host.get(), 4), (std::vector<uint8_t>{'l', 'a', 's', 't'}));
    EXPECT_TRUE(reads_eof(host.get()));
}

TEST_F(VsockSnapshotTest, QuiesceWaitsForASlowHostReaderToTakeAcceptedBytes)
{
    start_over_mmio();
    auto host = establish();
    // More than the socket pair buffers, and within the credit we were
    // granted: some of it is still in the device when the capture starts.
    auto sent = pattern(240 * 1024, 7);
    for (size_t offset = 0; offset < sent.size(); offset += 16 * 1024)
        send(header(VsockOp::ReadWrite),
            std::vector<uint8_t>(sent.begin() + offset, sent.begin() + offset + 16 * 1024));

    std::vector<uint8_t> received;
    bool eof = false;
    std::thread reader([&] {
        std::this_thread::sleep_for(20ms);
        for (;;) {
            auto chunk = read_some(host.get(), 64 * 1024, 2s);
            if (!chunk || chunk->empty()) {
                eof = chunk.has_value();
                return;
            }
            received.insert(received.end(), chunk->begin(), chunk->end());
        }
    });
    capture();
    reader.join();
    EXPECT_EQ(received.size(), sent.size());
    EXPECT_TRUE(received == sent);
    EXPECT_TRUE(eof);
}

TEST_F(VsockSnapshotTest, QuiesceFailsConnectInProgressAndHoldsNewOnes)
{
    start_over_mmio();
    auto pending
        = std::async(std::launch::async, [this] { return m_device->connect(kGuestPort, 2s); });
    ASSERT_TRUE(receive().has_value()); // the request, never answered
    capture();
    auto failed = pending.get();
    ASSERT_FALSE(failed.has_value());
    EXPECT_EQ(failed.error().code(), ErrorCode::Guest);

    auto held = m_device->connect(kGuestPort, 30ms);
    ASSERT_FALSE(held.has_value());
    EXPECT_EQ(held.error().message(),
        "vsock: connection to guest port 5000 timed out: device quiesced for capture");
}

TEST_F(VsockSnapshotTest, QuiesceReturnsTheReceiveBufferItHeld)
{
    start_over_mmio();
    auto host = establish();
    ASSERT_EQ(write(host.get(), "data", 4), 4);
    ASSERT_TRUE(receive().has_value());
    // The transport refuses to quiesce if any chain is still out, so a
    // successful capture is the check; the buffer comes back empty.
    auto state = capture();
    EXPECT_EQ(state.transport.at("queue.0.next_avail"), state.transport.at("queue.0.next_used"));
}

TEST_F(VsockSnapshotTest, SavedDeviceFieldsAreTheCidAndTheNextHostPort)
{
    start_over_mmio();
    auto host = establish();
    auto state = capture();
    EXPECT_EQ(state.device_id, 19u);
    EXPECT_EQ(state.device,
        (NamedValues{{"guest_cid", "0x0000000000000003"}, {"next_host_port", "0x00000401"}}));
}

TEST_F(VsockSnapshotTest, ResumeAnnouncesTransportResetAndConnectsAgain)
{
    start_over_mmio();
    auto host = establish();
    uint32_t old_port = m_host_port;
    capture();
    EXPECT_TRUE(reads_eof(host.get()));
    ASSERT_TRUE(m_transport->resume().has_value());

    EXPECT_EQ(take_event(), kEventTransportReset);
    expect_new_connection_works(old_port);
}

TEST_F(VsockSnapshotTest, RestoredDeviceAnnouncesTransportResetAndConnectsAgain)
{
    start_over_mmio();
    auto host = establish();
    uint32_t old_port = m_host_port;
    ASSERT_EQ(write(host.get(), "before", 6), 6);
    ASSERT_TRUE(receive().has_value());
    auto state = capture();
    EXPECT_TRUE(reads_eof(host.get()));
    restore(state);

    EXPECT_EQ(take_event(), kEventTransportReset);
    expect_new_connection_works(old_port);
    EXPECT_EQ(m_host_port, old_port + 1); // allocation continued from the saved port
}

TEST_F(VsockSnapshotTest, ConnectWaitsUntilTheGuestHandledTheTransportReset)
{
    start_over_mmio();
    restore(capture());
    ASSERT_EQ(take_event(false), kEventTransportReset);

    // A connection accepted before the guest handles the event would be
    // reset by it: the request waits for the driver's reposted buffer.
    // Other queues moving do not count as the answer.
    auto pending
        = std::async(std::launch::async, [this] { return m_device->connect(kGuestPort, 2s); });
    std::this_thread::sleep_for(20ms);
    post_rx(1);
    EXPECT_FALSE(m_driver.queue(kRxQueue).wait_used(50ms).has_value());
    post_events(1);
    auto request = receive();
    ASSERT_TRUE(request.has_value());
    EXPECT_EQ(request->header.op, VsockOp::Request);
    m_host_port = request->header.source_port;
    send(header(VsockOp::Response));
    EXPECT_TRUE(pending.get().has_value());
}

TEST_F(VsockSnapshotTest, TransportResetWaitsForAnEventBuffer)
{
    start_over_mmio(0);
    restore(capture());
    EXPECT_FALSE(m_driver.queue(kEventQueue).wait_used(30ms).has_value());
    auto held = m_device->connect(kGuestPort, 30ms);
    ASSERT_FALSE(held.has_value());
    EXPECT_EQ(held.error().message(),
        "vsock: connection to guest port 5000 timed out: guest has not taken the transport "
        "reset");

    post_events(kEventBuffers);
    EXPECT_EQ(take_event(), kEventTransportReset);
    expect_new_connection_works(0);
}

TEST_F(VsockSnapshotTest, DeviceNeverStartedIsCapturedAndRestoredQuietly)
{
    restore(capture());
    start_over_mmio();
    EXPECT_FALSE(m_driver.queue(kEventQueue).wait_used(30ms).has_value());
    expect_new_connection_works(0);
}

TEST(VsockRestoreState, FieldsFromAnotherMachineAreRefused)
{
    auto refusal = [](const NamedValues& values) {
        auto device = std::move(VsockDevice::create(kGuestCid)).value();
        auto restored = device->restore_state(values);
        return restored ? std::string() : restored.error().message();
    };
    const std::string cid = "0x0000000000000003";
    EXPECT_EQ(refusal({{"guest_cid", cid}, {"next_host_port", "0x00000401"}}), "");
    EXPECT_EQ(refusal({{"guest_cid", "0x0000000000000004"}, {"next_host_port", "0x00000401"}}),
        "device field guest_cid: 0x0000000000000004: this device's is 0x0000000000000003");
    EXPECT_EQ(refusal({{"guest_cid", cid}, {"next_host_port", "0x00000010"}}),
        "device field next_host_port: 0x00000010: outside the host port range");
    EXPECT_EQ(refusal({{"guest_cid", cid}, {"next_host_port", "0xffffffff"}}),
        "device field next_host_port: 0xffffffff: outside the host port range");
    EXPECT_EQ(refusal({{"guest_cid", cid}}), "device field next_host_port: missing");
    EXPECT_EQ(
        refusal({{"guest_cid", cid}, {"next_host_port", "0x00000401"}, {"open", "0x00000001"}}),
        "device field open: unknown");
}

TEST(VsockCreate, ReservedGuestCidIsRefused)
{
    EXPECT_FALSE(VsockDevice::create(2).has_value());
    EXPECT_TRUE(VsockDevice::create(3).has_value());
}

} // namespace
} // namespace spore
