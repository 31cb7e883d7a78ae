#include "vmm/devices/vsock.h"

#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>

#include <future>
#include <thread>

#include "virtio/testing/guest_driver.h"

namespace spore {
namespace {

using namespace std::chrono_literals;
using testing::GuestDriver;

constexpr uint64_t kGuestCid = 3;
constexpr uint16_t kRxQueue = 0;
constexpr uint16_t kTxQueue = 1;
constexpr uint32_t kGuestPort = 5000;
constexpr uint32_t kRxPayloadSize = 4096;
constexpr uint32_t kInitialRxBuffers = 64;

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
        , m_device(std::move(VsockDevice::create(kGuestCid)).value())
    {
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
        m_device->queue_notify(kRxQueue);
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
        m_device->queue_notify(kTxQueue);
        while (tx.take_used()) { }
    }

    // The next packet the device delivers; its buffer is replaced at once.
    std::optional<GuestPacket> receive(std::chrono::milliseconds timeout = 1s)
    {
        auto used = m_driver.queue(kRxQueue).wait_used(timeout);
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
    std::unique_ptr<VsockDevice> m_device;
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

TEST(VsockCreate, ReservedGuestCidIsRefused)
{
    EXPECT_FALSE(VsockDevice::create(2).has_value());
    EXPECT_TRUE(VsockDevice::create(3).has_value());
}

} // namespace
} // namespace spore
