// Fuzzes virtio-vsock from the guest side. Each input first goes through
// the header parser on its own, then drives a real device with one host
// connection open: the input is cut into records, each either a packet on
// the transmit queue, an action on the host end or the receive queue, or a
// capture (quiesce, then resume) after which no chain may be held.

#include <sys/socket.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <future>
#include <span>
#include <vector>

#include "virtio/testing/guest_driver.h"
#include "vmm/devices/vsock.h"

namespace {

using namespace std::chrono_literals;
using spore::VsockDevice;
using spore::VsockHeader;
using spore::VsockOp;
using spore::testing::GuestDriver;

constexpr uint64_t kGuestCid = 3;
constexpr uint32_t kGuestPort = 5000;
constexpr uint16_t kRxQueue = 0;
constexpr uint16_t kTxQueue = 1;
constexpr uint32_t kRxBufferSize = spore::kVsockHeaderSize + 4096;

// Record kinds, from the low bits of a record's first byte.
enum Action : uint8_t {
    kPacket, // the record is a packet; bit 3 set: fix its addresses first
    kSplitPacket, // the same, split over two descriptors
    kHostWrite, // the record's bytes are written to the host end
    kHostRead, // the host end is drained
    kHostClose, // the host end is closed
    kRefill, // the guest posts receive buffers
    kCapture, // the device is quiesced and resumed, as around a capture
};
constexpr uint8_t kActionCount = 7;
constexpr uint8_t kFixAddresses = 8;

[[noreturn]] void fail(const char* what)
{
    std::fprintf(stderr, "vsock fuzz: %s\n", what);
    std::abort();
}

class Guest {
public:
    Guest()
        : m_driver(3, 64, 4 << 20)
        , m_device(std::move(VsockDevice::create(kGuestCid)).value())
    {
        if (!m_driver.activate(*m_device))
            fail("activation failed");
        refill(16);
        m_host = establish();
    }

    ~Guest() { m_device->reset(); }

    void refill(size_t count)
    {
        auto& rx = m_driver.queue(kRxQueue);
        while (rx.take_used()) { }
        for (size_t buffer = 0; buffer < count && rx.free_descriptors() > 0; buffer++)
            rx.offer({}, {kRxBufferSize});
        m_device->queue_notify(kRxQueue);
    }

    void transmit(std::span<const uint8_t> record, bool fix_addresses, bool split)
    {
        std::vector<uint8_t> packet(record.begin(), record.end());
        if (fix_addresses && packet.size() >= spore::kVsockHeaderSize)
            address_to_connection(packet);

        auto& tx = m_driver.queue(kTxQueue);
        while (tx.take_used()) { }
        if (tx.free_descriptors() < 2 || packet.empty())
            return;
        size_t cut = split ? packet.size() / 2 : packet.size();
        std::vector<std::vector<uint8_t>> buffers{{packet.begin(), packet.begin() + cut}};
        if (cut < packet.size())
            buffers.emplace_back(packet.begin() + cut, packet.end());
        tx.offer(buffers);
        m_device->queue_notify(kTxQueue);
    }

    void host_write(std::span<const uint8_t> bytes)
    {
        if (m_host.valid())
            (void)send(m_host.get(), bytes.data(), bytes.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
    }

    void host_read()
    {
        uint8_t buffer[4096];
        while (m_host.valid() && recv(m_host.get(), buffer, sizeof buffer, MSG_DONTWAIT) > 0) { }
    }

    void host_close() { m_host.reset(); }

    void capture()
    {
        if (!m_device->quiesce())
            fail("quiesce failed");
        for (auto position : m_device->queue_positions()) {
            if (position.next_avail != position.next_used)
                fail("a chain is still held after quiesce");
        }
        if (!m_device->resume())
            fail("resume failed");
    }

private:
    // Opens the connection the packets can then talk about.
    spore::UniqueFd establish()
    {
        auto pending
            = std::async(std::launch::async, [this] { return m_device->connect(kGuestPort, 2s); });
        auto request = m_driver.queue(kRxQueue).wait_used(2s);
        if (!request)
            fail("no connection request");
        m_host_port = spore::decode_vsock_header(request->written)->source_port;

        VsockHeader response{.source_cid = kGuestCid,
            .destination_cid = spore::kVsockHostCid,
            .source_port = kGuestPort,
            .destination_port = m_host_port,
            .op = VsockOp::Response,
            .buffer_allocation = 64 * 1024};
        auto encoded = spore::encode_vsock_header(response);
        transmit(encoded, false, false);
        auto connection = pending.get();
        if (!connection)
            fail(connection.error().message().c_str());
        return std::move(connection).value();
    }

    void address_to_connection(std::vector<uint8_t>& packet) const
    {
        VsockHeader header = *spore::decode_vsock_header(packet);
        header.source_cid = kGuestCid;
        header.destination_cid = spore::kVsockHostCid;
        header.source_port = kGuestPort;
        header.destination_port = m_host_port;
        header.type = spore::kVsockTypeStream;
        auto encoded = spore::encode_vsock_header(header);
        std::copy(encoded.begin(), encoded.end(), packet.begin());
    }

    GuestDriver m_driver;
    std::unique_ptr<VsockDevice> m_device;
    spore::UniqueFd m_host;
    uint32_t m_host_port = 0;
};

void run_record(Guest& guest, uint8_t kind, std::span<const uint8_t> body)
{
    bool fix = kind & kFixAddresses;
    switch ((kind & 7) % kActionCount) {
    case kPacket:
        guest.transmit(body, fix, false);
        return;
    case kSplitPacket:
        guest.transmit(body, fix, true);
        return;
    case kHostWrite:
        guest.host_write(body);
        return;
    case kHostRead:
        guest.host_read();
        return;
    case kHostClose:
        guest.host_close();
        return;
    case kRefill:
        guest.refill(body.size() % 16 + 1);
        return;
    case kCapture:
        guest.capture();
        return;
    }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    std::span<const uint8_t> input(data, size);
    (void)spore::parse_vsock_packet(input, kGuestCid);

    // Records: a kind byte, a 16-bit little-endian length, then the body.
    Guest guest;
    while (input.size() >= 3) {
        uint8_t kind = input[0];
        size_t length = std::min<size_t>(input[1] | input[2] << 8, input.size() - 3);
        run_record(guest, kind, input.subspan(3, length));
        input = input.subspan(3 + length);
    }
    return 0;
}
