#include "vmm/devices/vsock_packet.h"

#include <bit>
#include <cstring>
#include <string>

namespace spore {

// Fields are copied as host integers; the vsock header is little-endian.
static_assert(std::endian::native == std::endian::little);

namespace {

// Field offsets inside struct virtio_vsock_hdr, which is packed.
constexpr size_t kSourceCid = 0;
constexpr size_t kDestinationCid = 8;
constexpr size_t kSourcePort = 16;
constexpr size_t kDestinationPort = 20;
constexpr size_t kLength = 24;
constexpr size_t kType = 28;
constexpr size_t kOp = 30;
constexpr size_t kFlags = 32;
constexpr size_t kBufferAllocation = 36;
constexpr size_t kForwardCount = 40;

template <typename T> T load(std::span<const uint8_t> bytes, size_t offset)
{
    T value;
    std::memcpy(&value, bytes.data() + offset, sizeof value);
    return value;
}

template <typename T> void store(std::span<uint8_t> bytes, size_t offset, T value)
{
    std::memcpy(bytes.data() + offset, &value, sizeof value);
}

bool known_op(VsockOp op)
{
    auto value = static_cast<uint16_t>(op);
    return value >= static_cast<uint16_t>(VsockOp::Request)
        && value <= static_cast<uint16_t>(VsockOp::CreditRequest);
}

Error malformed(const char* cause)
{
    return Error::invalid(std::string("vsock: packet dropped: ") + cause);
}

} // namespace

Result<VsockHeader> decode_vsock_header(std::span<const uint8_t> bytes)
{
    if (bytes.size() < kVsockHeaderSize)
        return malformed("header too short");
    VsockHeader header;
    header.source_cid = load<uint64_t>(bytes, kSourceCid);
    header.destination_cid = load<uint64_t>(bytes, kDestinationCid);
    header.source_port = load<uint32_t>(bytes, kSourcePort);
    header.destination_port = load<uint32_t>(bytes, kDestinationPort);
    header.length = load<uint32_t>(bytes, kLength);
    header.type = load<uint16_t>(bytes, kType);
    header.op = static_cast<VsockOp>(load<uint16_t>(bytes, kOp));
    header.flags = load<uint32_t>(bytes, kFlags);
    header.buffer_allocation = load<uint32_t>(bytes, kBufferAllocation);
    header.forward_count = load<uint32_t>(bytes, kForwardCount);
    return header;
}

Result<VsockPacket> parse_vsock_packet(std::span<const uint8_t> bytes, uint64_t guest_cid)
{
    auto header = TRY(decode_vsock_header(bytes));
    if (header.type != kVsockTypeStream)
        return malformed("socket type is not stream");
    if (!known_op(header.op))
        return malformed("unknown op");
    if (header.destination_cid != kVsockHostCid)
        return malformed("destination is not the host");
    if (header.source_cid != guest_cid)
        return malformed("source is not the guest's cid");
    if (header.length > kVsockMaxPayload || header.length > bytes.size() - kVsockHeaderSize)
        return malformed("payload length exceeds the buffer");
    if (header.length != 0 && header.op != VsockOp::ReadWrite)
        return malformed("payload on a control packet");

    return VsockPacket{header, bytes.subspan(kVsockHeaderSize, header.length)};
}

std::array<uint8_t, kVsockHeaderSize> encode_vsock_header(const VsockHeader& header)
{
    std::array<uint8_t, kVsockHeaderSize> bytes{};
    std::span<uint8_t> out(bytes);
    store(out, kSourceCid, header.source_cid);
    store(out, kDestinationCid, header.destination_cid);
    store(out, kSourcePort, header.source_port);
    store(out, kDestinationPort, header.destination_port);
    store(out, kLength, header.length);
    store(out, kType, header.type);
    store(out, kOp, static_cast<uint16_t>(header.op));
    store(out, kFlags, header.flags);
    store(out, kBufferAllocation, header.buffer_allocation);
    store(out, kForwardCount, header.forward_count);
    return bytes;
}

} // namespace spore
