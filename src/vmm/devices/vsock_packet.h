#pragma once

#include <array>
#include <cstdint>
#include <span>

#include "common/error.h"

namespace spore {

// The host's context id (VMADDR_CID_HOST).
inline constexpr uint64_t kVsockHostCid = 2;
// Bytes of struct virtio_vsock_hdr (virtio 1.2 §5.10.6).
inline constexpr size_t kVsockHeaderSize = 44;
// Largest payload one packet may carry, as in Linux (VIRTIO_VSOCK_MAX_PKT_BUF_SIZE).
inline constexpr uint32_t kVsockMaxPayload = 64 * 1024;
// VIRTIO_VSOCK_TYPE_STREAM, the only socket type supported.
inline constexpr uint16_t kVsockTypeStream = 1;
// OP_SHUTDOWN flags: the sender will receive no more, will send no more.
inline constexpr uint32_t kVsockShutdownReceive = 1;
inline constexpr uint32_t kVsockShutdownSend = 2;

// Packet operations (virtio 1.2 §5.10.6).
enum class VsockOp : uint16_t {
    Request = 1,
    Response = 2,
    Reset = 3,
    Shutdown = 4,
    ReadWrite = 5,
    CreditUpdate = 6,
    CreditRequest = 7,
};

// struct virtio_vsock_hdr with full-word names: buffer_allocation is
// buf_alloc and forward_count is fwd_cnt. op holds the raw wire value, which
// only parse_vsock_packet guarantees to be a known operation.
struct VsockHeader {
    uint64_t source_cid = 0;
    uint64_t destination_cid = 0;
    uint32_t source_port = 0;
    uint32_t destination_port = 0;
    uint32_t length = 0;
    uint16_t type = kVsockTypeStream;
    VsockOp op = VsockOp::Reset;
    uint32_t flags = 0;
    uint32_t buffer_allocation = 0;
    uint32_t forward_count = 0;
};

// A packet from the guest whose header passed every check. payload points
// into the bytes it was parsed from.
struct VsockPacket {
    VsockHeader header;
    std::span<const uint8_t> payload;
};

// Decodes a header without judging its fields; fails only on too few bytes.
Result<VsockHeader> decode_vsock_header(std::span<const uint8_t> bytes);

// Decodes and checks one guest-to-host packet: complete header, stream
// type, known op, addressed from guest_cid to the host, payload present in
// full, no larger than kVsockMaxPayload, and carried only by OP_RW.
Result<VsockPacket> parse_vsock_packet(std::span<const uint8_t> bytes, uint64_t guest_cid);

// Encodes a header in the little-endian wire format.
std::array<uint8_t, kVsockHeaderSize> encode_vsock_header(const VsockHeader& header);

} // namespace spore
