#include "vmm/devices/vsock_packet.h"

#include <gtest/gtest.h>

#include <vector>

namespace spore {
namespace {

constexpr uint64_t kGuestCid = 3;

VsockHeader guest_header(VsockOp op, uint32_t length = 0)
{
    return {.source_cid = kGuestCid,
        .destination_cid = kVsockHostCid,
        .source_port = 1024,
        .destination_port = 5000,
        .length = length,
        .op = op,
        .flags = 0,
        .buffer_allocation = 4096,
        .forward_count = 7};
}

std::vector<uint8_t> packet_bytes(const VsockHeader& header, size_t payload_size = 0)
{
    auto encoded = encode_vsock_header(header);
    std::vector<uint8_t> bytes(encoded.begin(), encoded.end());
    bytes.resize(bytes.size() + payload_size, 0xab);
    return bytes;
}

TEST(VsockPacket, EncodedHeaderParsesBackToTheSameFields)
{
    auto bytes = packet_bytes(guest_header(VsockOp::ReadWrite, 3), 3);
    auto packet = parse_vsock_packet(bytes, kGuestCid);
    ASSERT_TRUE(packet.has_value());
    EXPECT_EQ(packet->header.source_port, 1024u);
    EXPECT_EQ(packet->header.destination_port, 5000u);
    EXPECT_EQ(packet->header.op, VsockOp::ReadWrite);
    EXPECT_EQ(packet->header.buffer_allocation, 4096u);
    EXPECT_EQ(packet->header.forward_count, 7u);
    EXPECT_EQ(packet->payload.size(), 3u);
}

TEST(VsockPacket, HeaderIsLittleEndianAtSpecOffsets)
{
    auto bytes = packet_bytes(guest_header(VsockOp::Shutdown));
    EXPECT_EQ(bytes.size(), 44u);
    EXPECT_EQ(bytes[0], kGuestCid);
    EXPECT_EQ(bytes[8], kVsockHostCid);
    EXPECT_EQ(bytes[16], 0x00); // 1024 = 0x400
    EXPECT_EQ(bytes[17], 0x04);
    EXPECT_EQ(bytes[28], kVsockTypeStream);
    EXPECT_EQ(bytes[30], static_cast<uint8_t>(VsockOp::Shutdown));
}

TEST(VsockPacket, ShortHeaderIsRejected)
{
    auto bytes = packet_bytes(guest_header(VsockOp::Request));
    bytes.pop_back();
    EXPECT_FALSE(parse_vsock_packet(bytes, kGuestCid).has_value());
}

TEST(VsockPacket, NonStreamTypeIsRejected)
{
    auto header = guest_header(VsockOp::Request);
    header.type = 2; // seqpacket
    EXPECT_FALSE(parse_vsock_packet(packet_bytes(header), kGuestCid).has_value());
}

TEST(VsockPacket, UnknownOpIsRejected)
{
    auto bytes = packet_bytes(guest_header(VsockOp::Request));
    bytes[30] = 8;
    EXPECT_FALSE(parse_vsock_packet(bytes, kGuestCid).has_value());
    bytes[30] = 0;
    EXPECT_FALSE(parse_vsock_packet(bytes, kGuestCid).has_value());
}

TEST(VsockPacket, DestinationOtherThanHostIsRejected)
{
    auto header = guest_header(VsockOp::Request);
    header.destination_cid = 4;
    EXPECT_FALSE(parse_vsock_packet(packet_bytes(header), kGuestCid).has_value());
}

TEST(VsockPacket, SourceOtherThanGuestCidIsRejected)
{
    auto header = guest_header(VsockOp::Request);
    header.source_cid = kGuestCid + 1;
    EXPECT_FALSE(parse_vsock_packet(packet_bytes(header), kGuestCid).has_value());
}

TEST(VsockPacket, LengthBeyondTheBufferIsRejected)
{
    auto bytes = packet_bytes(guest_header(VsockOp::ReadWrite, 10), 9);
    EXPECT_FALSE(parse_vsock_packet(bytes, kGuestCid).has_value());
}

TEST(VsockPacket, LengthOverTheMaximumPayloadIsRejected)
{
    auto bytes = packet_bytes(
        guest_header(VsockOp::ReadWrite, kVsockMaxPayload + 1), kVsockMaxPayload + 1);
    EXPECT_FALSE(parse_vsock_packet(bytes, kGuestCid).has_value());
}

TEST(VsockPacket, PayloadOnControlPacketIsRejected)
{
    auto bytes = packet_bytes(guest_header(VsockOp::Response, 1), 1);
    EXPECT_FALSE(parse_vsock_packet(bytes, kGuestCid).has_value());
}

TEST(VsockPacket, TrailingBytesBeyondLengthAreIgnored)
{
    auto bytes = packet_bytes(guest_header(VsockOp::ReadWrite, 2), 100);
    auto packet = parse_vsock_packet(bytes, kGuestCid);
    ASSERT_TRUE(packet.has_value());
    EXPECT_EQ(packet->payload.size(), 2u);
}

} // namespace
} // namespace spore
