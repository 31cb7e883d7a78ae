#include "vmm/devices/vsock.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cinttypes>
#include <cstring>
#include <utility>

#include "common/hex_value.h"
#include "virtio/field_reader.h"

namespace spore {

namespace {

constexpr uint32_t kVsockDeviceId = 19;
constexpr uint16_t kRxQueue = 0;
constexpr uint16_t kTxQueue = 1;
constexpr uint16_t kEventQueue = 2;
constexpr uint16_t kQueueCount = 3;

// struct virtio_vsock_event is one le32 id; Linux ignores an event of any
// other length.
constexpr uint32_t kEventTransportReset = 0;
constexpr size_t kEventSize = 4;

// How long quiesce() lets host readers take guest bytes already accepted
// before their connections close. The VM is paused meanwhile, so it is short.
constexpr auto kQuiesceFlushTimeout = std::chrono::milliseconds(250);

constexpr uint32_t kFirstHostPort = 1024;
// VMADDR_PORT_ANY; never handed out.
constexpr uint32_t kAnyPort = UINT32_MAX;

// Tell the guest about freed buffer space once this much has accumulated;
// a quarter of the allocation keeps a blocked sender from waiting long.
constexpr uint32_t kCreditUpdateThreshold = VsockDevice::kBufferAllocation / 4;

// Packets one connection may send per pass, so one busy socket cannot
// starve the others.
constexpr int kMaxPacketsPerPass = 64;

// epoll token of the wake eventfd; connection tokens are host ports.
constexpr uint64_t kWakeToken = 0;

Error connect_error(ErrorCode code, uint32_t guest_port, const char* cause)
{
    return Error(
        code, "vsock: connection to guest port " + std::to_string(guest_port) + " " + cause);
}

// Returns {host end, device end}; the device end does not block.
Result<std::pair<UniqueFd, UniqueFd>> make_socket_pair()
{
    int fds[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0)
        return Error::from_errno("vsock: socketpair");
    UniqueFd host(fds[0]);
    UniqueFd device(fds[1]);
    int flags = fcntl(device.get(), F_GETFL);
    if (flags < 0 || fcntl(device.get(), F_SETFL, flags | O_NONBLOCK) != 0)
        return Error::from_errno("vsock: fcntl O_NONBLOCK");
    return std::pair(std::move(host), std::move(device));
}

} // namespace

// Waits on a connect() caller's stack for the guest's answer.
struct VsockDevice::PendingConnect {
    enum class Outcome { Waiting, Accepted, Refused, Reset };
    Outcome outcome = Outcome::Waiting;
};

// One stream between a host port and a guest port.
struct VsockDevice::Connection {
    uint32_t host_port = 0;
    uint32_t guest_port = 0;
    UniqueFd socket; // the device end, non-blocking
    bool established = false;
    PendingConnect* pending = nullptr; // until the guest answers the request

    // Credit the guest grants us (its buf_alloc and fwd_cnt), and what we sent.
    uint32_t peer_buffer_allocation = 0;
    uint32_t peer_forward_count = 0;
    uint32_t sent_count = 0;

    // Credit we grant: guest bytes written to the host, and last advertised.
    uint32_t forward_count = 0;
    uint32_t advertised_forward_count = 0;
    bool credit_update_queued = false;
    std::vector<uint8_t> to_host; // accepted from the guest, not yet written

    bool host_readable = false; // epoll saw input we have not drained
    bool host_eof = false;
    bool guest_done_sending = false;
    bool guest_done_receiving = false;
    bool write_side_shut = false;
    bool close_when_flushed = false;
    bool finished = false; // removed at the end of the current pass

    uint32_t epoll_events = 0;
    bool registered = false;

    // Wrapping arithmetic as in §5.10.6.3: buf_alloc - (tx_cnt - fwd_cnt).
    uint32_t peer_credit() const
    {
        uint32_t in_flight = sent_count - peer_forward_count;
        return in_flight >= peer_buffer_allocation ? 0 : peer_buffer_allocation - in_flight;
    }

    bool may_send_to_guest() const
    {
        return established && !finished && !host_eof && !guest_done_receiving
            && !close_when_flushed;
    }
};

Result<std::unique_ptr<VsockDevice>> VsockDevice::create(uint64_t guest_cid)
{
    // Context ids 0 to 2 are reserved, and Linux stores cids in 32 bits.
    if (guest_cid < 3 || guest_cid >= UINT32_MAX)
        return Error::invalid("vsock: guest cid " + std::to_string(guest_cid) + ": reserved");

    UniqueFd epoll(epoll_create1(EPOLL_CLOEXEC));
    if (!epoll.valid())
        return Error::from_errno("vsock: epoll_create1");
    UniqueFd wake(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    if (!wake.valid())
        return Error::from_errno("vsock: eventfd");
    epoll_event event{.events = EPOLLIN, .data = {.u64 = kWakeToken}};
    if (epoll_ctl(epoll.get(), EPOLL_CTL_ADD, wake.get(), &event) != 0)
        return Error::from_errno("vsock: epoll_ctl");

    return std::unique_ptr<VsockDevice>(
        new VsockDevice(guest_cid, std::move(epoll), std::move(wake)));
}

VsockDevice::VsockDevice(uint64_t guest_cid, UniqueFd epoll, UniqueFd wake)
    : m_guest_cid(guest_cid)
    , m_epoll(std::move(epoll))
    , m_wake(std::move(wake))
    , m_next_host_port(kFirstHostPort)
    , m_scratch(kVsockMaxPayload)
{
}

VsockDevice::~VsockDevice()
{
    reset();
}

VirtioDeviceInfo VsockDevice::info() const
{
    return {.device_id = kVsockDeviceId,
        .features = kVirtioFeatureVersion1,
        .queue_count = kQueueCount,
        .max_queue_size = 256};
}

void VsockDevice::read_config(uint64_t offset, std::span<uint8_t> data) const
{
    std::array<uint8_t, sizeof m_guest_cid> config;
    std::memcpy(config.data(), &m_guest_cid, sizeof m_guest_cid); // le64 guest_cid
    copy_config(config, offset, data);
}

void VsockDevice::write_config(uint64_t, std::span<const uint8_t>)
{
}

Result<void> VsockDevice::activate(VirtioActivation activation)
{
    if (activation.queues.size() != kQueueCount)
        return Error::invalid("vsock: wrong number of queues");

    std::lock_guard lock(m_mutex);
    if (m_io_thread.joinable())
        return Error::invalid("vsock: activated twice without a reset");
    if (m_quiesced)
        return Error::invalid("vsock: activated while quiesced");
    m_memory = &activation.memory;
    m_queues = std::move(activation.queues);
    m_signal_used_buffer = std::move(activation.signal_used_buffer);
    m_rx_starved = false;
    m_active = true;
    start_io_thread_locked();
    if (activation.restored) {
        // The guest's sockets still name connections of the capturing host.
        m_transport_reset = TransportReset::Pending;
        service_locked();
    }
    m_changed.notify_all();
    return {};
}

void VsockDevice::start_io_thread_locked()
{
    m_io_thread = std::thread([this] { run_io_thread(); });
}

void VsockDevice::queue_notify(uint16_t queue_index)
{
    std::lock_guard lock(m_mutex);
    if (queue_index == kRxQueue)
        m_rx_starved = false;
    service_locked();
}

void VsockDevice::reset()
{
    stop_io_thread();

    std::lock_guard lock(m_mutex);
    close_all_connections_locked();
    m_control.clear();
    m_spare_rx.reset();
    m_queues.clear();
    m_memory = nullptr;
    m_signal_used_buffer = nullptr;
    m_needs_signal = false;
    m_active = false;
    m_stopping = false;
    m_transport_reset = TransportReset::None;
    m_changed.notify_all();
}

Result<void> VsockDevice::quiesce()
{
    {
        std::lock_guard lock(m_mutex);
        if (m_quiesced)
            return Error::invalid("vsock: already quiesced");
        // From here on service passes do nothing and connect() waits. Packets
        // are written whole under the lock, so none is left half written.
        m_quiesced = true;
    }
    stop_io_thread();

    std::lock_guard lock(m_mutex);
    m_stopping = false;
    if (m_active)
        flush_before_close_locked();
    close_all_connections_locked();
    // Replies to connections that no longer exist; the transport reset
    // after resume or restore covers whatever they would have said.
    m_control.clear();
    if (m_active) {
        return_spare_rx_locked();
        if (m_needs_signal) {
            m_needs_signal = false;
            m_signal_used_buffer();
        }
    }
    m_changed.notify_all();
    return {};
}

// The guest bytes in to_host were accepted and credited: the guest counts
// them as delivered. Give each host reader a short while to take them
// before the connection goes away with the capture.
void VsockDevice::flush_before_close_locked()
{
    auto deadline = std::chrono::steady_clock::now() + kQuiesceFlushTimeout;
    for (;;) {
        std::vector<pollfd> waiting;
        for (auto& [port, connection] : m_connections) {
            flush_to_host_locked(*connection);
            if (!connection->finished && !connection->to_host.empty())
                waiting.push_back({connection->socket.get(), POLLOUT, 0});
        }
        if (waiting.empty())
            return;

        auto left = std::chrono::ceil<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) {
            size_t dropped = 0;
            for (auto& [port, connection] : m_connections)
                dropped += connection->finished ? 0 : connection->to_host.size();
            log::warn("vsock: quiesce: %zu guest bytes not taken by host readers dropped", dropped);
            return;
        }
        // Holding m_mutex is harmless: everything else waits for the quiesce anyway.
        if (poll(waiting.data(), waiting.size(), static_cast<int>(left.count())) < 0
            && errno != EINTR) {
            log::warn("vsock: quiesce: poll: %s", std::strerror(errno));
            return;
        }
    }
}

// A receive chain kept for later would be lost by a restore, which starts
// from the ring positions: hand it back empty, as for a buffer too small.
void VsockDevice::return_spare_rx_locked()
{
    if (!m_spare_rx)
        return;
    if (m_queues[kRxQueue].add_used(m_spare_rx->head(), 0))
        m_needs_signal = true;
    m_spare_rx.reset();
}

Result<void> VsockDevice::resume()
{
    std::lock_guard lock(m_mutex);
    if (!m_quiesced)
        return Error::invalid("vsock: resumed without quiesce");
    m_quiesced = false;
    if (m_active) {
        // quiesce() closed connections the guest still thinks are open.
        m_transport_reset = TransportReset::Pending;
        start_io_thread_locked();
        service_locked();
    }
    m_changed.notify_all();
    return {};
}

std::vector<QueuePosition> VsockDevice::queue_positions() const
{
    std::lock_guard lock(m_mutex);
    return positions_of(m_queues);
}

Result<NamedValues> VsockDevice::save_state() const
{
    std::lock_guard lock(m_mutex);
    return NamedValues{
        {"guest_cid", format_hex_u64(m_guest_cid)},
        {"next_host_port", format_hex_u32(m_next_host_port)},
    };
}

Result<void> VsockDevice::restore_state(const NamedValues& values)
{
    FieldReader fields(values, "device field");
    uint64_t guest_cid = TRY(fields.u64("guest_cid"));
    uint32_t next_host_port = TRY(fields.u32("next_host_port"));
    TRY(fields.finish());

    // The guest re-reads its cid on the transport reset, so another cid
    // would work for the driver; but the board gives every VM the same one,
    // and a difference means the state belongs to some other machine.
    if (guest_cid != m_guest_cid)
        return fields.error("guest_cid",
            format_hex_u64(guest_cid) + ": this device's is " + format_hex_u64(m_guest_cid));
    if (next_host_port < kFirstHostPort || next_host_port == kAnyPort)
        return fields.error(
            "next_host_port", format_hex_u32(next_host_port) + ": outside the host port range");

    std::lock_guard lock(m_mutex);
    if (m_active)
        return Error::invalid("vsock: state restored into a started device");
    m_next_host_port = next_host_port;
    return {};
}

void VsockDevice::stop_io_thread()
{
    {
        std::lock_guard lock(m_mutex);
        m_stopping = true;
    }
    uint64_t one = 1;
    if (write(m_wake.get(), &one, sizeof one) < 0 && errno != EAGAIN)
        log::warn("vsock: waking the i/o thread: %s", std::strerror(errno));
    if (m_io_thread.joinable())
        m_io_thread.join();
}

void VsockDevice::run_io_thread()
{
    std::array<epoll_event, 16> events;
    for (;;) {
        int count = epoll_wait(m_epoll.get(), events.data(), events.size(), -1);
        if (count < 0 && errno == EINTR)
            continue;
        if (count < 0) {
            log::warn("vsock: epoll_wait: %s", std::strerror(errno));
            return;
        }

        std::lock_guard lock(m_mutex);
        if (m_stopping)
            return;
        for (int index = 0; index < count; index++)
            note_readiness_locked(events[index].data.u64, events[index].events);
        service_locked();
    }
}

void VsockDevice::note_readiness_locked(uint64_t token, uint32_t events)
{
    if (token == kWakeToken) {
        uint64_t count;
        while (read(m_wake.get(), &count, sizeof count) > 0) { }
        return;
    }
    auto found = m_connections.find(static_cast<uint32_t>(token));
    if (found != m_connections.end() && (events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
        found->second->host_readable = true;
}

// One pass over everything that may have become possible: new guest
// packets, buffered bytes in both directions, packets waiting for receive
// buffers, finished connections, and the interrupt.
void VsockDevice::service_locked()
{
    if (!m_active || m_queues.empty() || m_quiesced)
        return;

    announce_transport_reset_locked();
    // Delivering first makes room for the replies that transmit packets
    // may need, when a full control queue held the transmit queue back.
    deliver_control_locked();
    process_tx_locked();
    for (auto& [port, connection] : m_connections) {
        flush_to_host_locked(*connection);
        pump_to_guest_locked(*connection);
    }
    deliver_control_locked();
    reap_finished_locked();
    for (auto& [port, connection] : m_connections)
        update_interest_locked(*connection);

    if (m_needs_signal) {
        m_needs_signal = false;
        m_signal_used_buffer();
    }
}

void VsockDevice::announce_transport_reset_locked()
{
    Queue& events = m_queues[kEventQueue];
    if (m_transport_reset == TransportReset::Delivered) {
        // Linux reposts the event buffer once it has handled the event; only
        // then have its stale sockets been reset, and a new connection is safe.
        auto avail_index = events.avail_index();
        if (!avail_index || *avail_index != m_event_avail_at_delivery) {
            m_transport_reset = TransportReset::None;
            m_changed.notify_all();
        }
        return;
    }

    while (m_transport_reset == TransportReset::Pending && !events.broken()) {
        auto popped = events.pop();
        if (!popped) {
            if (m_queue_log.allow())
                log::warn("vsock: event queue stopped: %s", popped.error().message().c_str());
            return;
        }
        if (!popped->has_value())
            return; // sent once the driver posts an event buffer
        const DescriptorChain& chain = **popped;

        std::array<uint8_t, kEventSize> event;
        std::memcpy(event.data(), &kEventTransportReset, kEventSize); // le32 id
        bool written = chain.write_at(*m_memory, 0, event).has_value();
        // Read before the buffer goes back, so a later change can only be
        // the driver's answer to this event.
        auto avail_index = events.avail_index();
        if (!events.add_used(chain.head(), written ? kEventSize : 0))
            return;
        m_needs_signal = true;
        if (written) {
            m_transport_reset = avail_index ? TransportReset::Delivered : TransportReset::None;
            m_event_avail_at_delivery = avail_index ? *avail_index : 0;
        }
    }
}

void VsockDevice::process_tx_locked()
{
    Queue& tx = m_queues[kTxQueue];
    while (!tx.broken() && m_control.size() < kMaxQueuedReplies) {
        auto popped = tx.pop();
        if (!popped) {
            if (m_queue_log.allow())
                log::warn("vsock: transmit queue stopped: %s", popped.error().message().c_str());
            return;
        }
        if (!popped->has_value())
            return;

        const DescriptorChain& chain = **popped;
        auto bytes = chain.read_all(*m_memory, kVsockHeaderSize + kVsockMaxPayload);
        auto packet = bytes ? parse_vsock_packet(*bytes, m_guest_cid) : bytes.release_error();
        if (packet)
            handle_guest_packet_locked(*packet);
        else if (m_packet_log.allow())
            log::debug("vsock", "%s", packet.error().message().c_str());

        if (!tx.add_used(chain.head(), 0))
            return;
        m_needs_signal = true;
    }
}

void VsockDevice::handle_guest_packet_locked(const VsockPacket& packet)
{
    const VsockHeader& header = packet.header;
    Connection* connection = header.op == VsockOp::Request
        ? nullptr // guest-initiated connections are not supported
        : find_connection_locked(header.destination_port, header.source_port);
    if (!connection) {
        // Never answer a reset, or two ends could reset each other forever.
        if (header.op != VsockOp::Reset)
            m_control.push_back({header.destination_port, header.source_port, VsockOp::Reset, 0});
        return;
    }

    connection->peer_buffer_allocation = header.buffer_allocation;
    connection->peer_forward_count = header.forward_count;
    if (!connection->established) {
        handle_connect_reply_locked(*connection, header.op);
        return;
    }

    switch (header.op) {
    case VsockOp::Reset:
        connection->to_host.clear();
        connection->finished = true;
        return;
    case VsockOp::Shutdown:
        handle_guest_shutdown_locked(*connection, header.flags);
        return;
    case VsockOp::ReadWrite:
        handle_guest_data_locked(*connection, packet.payload);
        return;
    case VsockOp::CreditRequest:
        queue_control_locked(*connection, VsockOp::CreditUpdate);
        return;
    case VsockOp::CreditUpdate:
        return; // the credit fields were taken above
    case VsockOp::Request:
    case VsockOp::Response:
        abort_connection_locked(*connection);
        return;
    }
}

void VsockDevice::handle_connect_reply_locked(Connection& connection, VsockOp op)
{
    auto outcome = PendingConnect::Outcome::Refused;
    if (op == VsockOp::Response) {
        connection.established = true;
        connection.host_readable = true; // the host may have written already
        outcome = PendingConnect::Outcome::Accepted;
    } else {
        if (op != VsockOp::Reset)
            queue_control_locked(connection, VsockOp::Reset);
        connection.finished = true;
    }
    if (connection.pending) {
        connection.pending->outcome = outcome;
        connection.pending = nullptr;
        m_changed.notify_all();
    }
}

void VsockDevice::handle_guest_shutdown_locked(Connection& connection, uint32_t flags)
{
    if ((flags & kVsockShutdownReceive) && !connection.guest_done_receiving) {
        connection.guest_done_receiving = true;
        // Host writes now fail with EPIPE instead of piling up unread.
        shutdown(connection.socket.get(), SHUT_RD);
    }
    if (flags & kVsockShutdownSend)
        connection.guest_done_sending = true;
    if (connection.guest_done_receiving && connection.guest_done_sending)
        connection.close_when_flushed = true;
    flush_to_host_locked(connection);
}

void VsockDevice::handle_guest_data_locked(Connection& connection, std::span<const uint8_t> payload)
{
    if (connection.guest_done_sending) {
        abort_connection_locked(connection);
        return;
    }
    // Unwritten bytes never exceed the credit granted, unless the guest
    // ignores the credit it was given.
    if (connection.to_host.size() + payload.size() > kBufferAllocation) {
        if (m_packet_log.allow())
            log::debug("vsock", "connection %u:%u reset: guest exceeded its credit",
                connection.host_port, connection.guest_port);
        abort_connection_locked(connection);
        return;
    }
    connection.to_host.insert(connection.to_host.end(), payload.begin(), payload.end());
    flush_to_host_locked(connection);
}

void VsockDevice::flush_to_host_locked(Connection& connection)
{
    size_t written = 0;
    while (written < connection.to_host.size() && !connection.finished) {
        ssize_t sent = send(connection.socket.get(), connection.to_host.data() + written,
            connection.to_host.size() - written, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (sent > 0) {
            written += static_cast<size_t>(sent);
            connection.forward_count += static_cast<uint32_t>(sent);
            continue;
        }
        if (sent < 0 && errno == EINTR)
            continue;
        if (sent < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        abort_connection_locked(connection); // the host end is gone
        return;
    }
    connection.to_host.erase(connection.to_host.begin(), connection.to_host.begin() + written);
    if (connection.to_host.empty()) {
        if (connection.guest_done_sending && !connection.write_side_shut) {
            shutdown(connection.socket.get(), SHUT_WR);
            connection.write_side_shut = true;
        }
        finish_if_flushed_locked(connection);
    }

    uint32_t unadvertised = connection.forward_count - connection.advertised_forward_count;
    if (!connection.finished && !connection.credit_update_queued
        && unadvertised >= kCreditUpdateThreshold)
        queue_control_locked(connection, VsockOp::CreditUpdate);
}

void VsockDevice::pump_to_guest_locked(Connection& connection)
{
    for (int packets = 0; packets < kMaxPacketsPerPass; packets++) {
        uint32_t credit = connection.peer_credit();
        if (!connection.may_send_to_guest() || !connection.host_readable || credit == 0)
            return;
        auto chain = next_rx_chain_locked();
        if (!chain)
            return;

        // next_rx_chain_locked guarantees room for at least one payload byte.
        size_t room = std::min<uint64_t>(
            {chain->writable_length() - kVsockHeaderSize, credit, kVsockMaxPayload});
        ssize_t got = recv(connection.socket.get(), m_scratch.data(), room, MSG_DONTWAIT);
        if (got > 0) {
            auto header
                = header_locked(connection.host_port, connection.guest_port, VsockOp::ReadWrite);
            send_to_guest_locked(
                *chain, header, std::span(m_scratch).first(static_cast<size_t>(got)));
            connection.sent_count += static_cast<uint32_t>(got);
            continue;
        }

        m_spare_rx = std::move(chain);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            connection.host_readable = false;
            return;
        }
        handle_host_eof_locked(connection);
        return;
    }
}

void VsockDevice::handle_host_eof_locked(Connection& connection)
{
    connection.host_eof = true;
    connection.host_readable = false;
    queue_control_locked(connection, VsockOp::Shutdown, kVsockShutdownReceive | kVsockShutdownSend);
    connection.close_when_flushed = true;
    finish_if_flushed_locked(connection);
}

void VsockDevice::finish_if_flushed_locked(Connection& connection)
{
    if (connection.close_when_flushed && connection.to_host.empty() && !connection.finished) {
        queue_control_locked(connection, VsockOp::Reset);
        connection.finished = true;
    }
}

void VsockDevice::abort_connection_locked(Connection& connection)
{
    if (connection.finished)
        return;
    connection.to_host.clear();
    queue_control_locked(connection, VsockOp::Reset);
    connection.finished = true;
}

void VsockDevice::queue_control_locked(Connection& connection, VsockOp op, uint32_t flags)
{
    m_control.push_back({connection.host_port, connection.guest_port, op, flags});
    if (op == VsockOp::CreditUpdate)
        connection.credit_update_queued = true;
}

void VsockDevice::deliver_control_locked()
{
    while (!m_control.empty()) {
        auto chain = next_rx_chain_locked();
        if (!chain)
            return;
        ControlPacket packet = m_control.front();
        m_control.pop_front();
        auto header = header_locked(packet.host_port, packet.guest_port, packet.op);
        header.flags = packet.flags;
        send_to_guest_locked(*chain, header, {});
    }
}

std::optional<DescriptorChain> VsockDevice::next_rx_chain_locked()
{
    if (m_spare_rx)
        return std::exchange(m_spare_rx, std::nullopt);

    Queue& rx = m_queues[kRxQueue];
    while (!rx.broken()) {
        auto popped = rx.pop();
        if (!popped) {
            if (m_queue_log.allow())
                log::warn("vsock: receive queue stopped: %s", popped.error().message().c_str());
            break;
        }
        if (!popped->has_value())
            break;
        if ((*popped)->writable_length() > kVsockHeaderSize)
            return std::move(*popped);

        // Too small for a header and a byte: hand it back unused.
        if (m_packet_log.allow())
            log::debug("vsock", "receive buffer of %" PRIu64 " bytes returned unused",
                (*popped)->writable_length());
        if (!rx.add_used((*popped)->head(), 0))
            break;
        m_needs_signal = true;
    }
    m_rx_starved = true;
    return std::nullopt;
}

void VsockDevice::send_to_guest_locked(
    const DescriptorChain& chain, VsockHeader header, std::span<const uint8_t> payload)
{
    header.length = static_cast<uint32_t>(payload.size());
    auto encoded = encode_vsock_header(header);
    auto written = chain.write_at(*m_memory, 0, encoded);
    if (written && !payload.empty())
        written = chain.write_at(*m_memory, kVsockHeaderSize, payload);

    uint32_t length = written ? static_cast<uint32_t>(kVsockHeaderSize + payload.size()) : 0;
    if (!written && m_packet_log.allow())
        log::debug("vsock", "packet to guest lost: %s", written.error().message().c_str());
    if (m_queues[kRxQueue].add_used(chain.head(), length))
        m_needs_signal = true;
}

VsockHeader VsockDevice::header_locked(uint32_t host_port, uint32_t guest_port, VsockOp op)
{
    VsockHeader header{.source_cid = kVsockHostCid,
        .destination_cid = m_guest_cid,
        .source_port = host_port,
        .destination_port = guest_port,
        .op = op,
        .buffer_allocation = kBufferAllocation};
    // Every packet carries our credit, so it counts as an advertisement.
    if (Connection* connection = find_connection_locked(host_port, guest_port)) {
        header.forward_count = connection->forward_count;
        connection->advertised_forward_count = connection->forward_count;
        if (op == VsockOp::CreditUpdate)
            connection->credit_update_queued = false;
    }
    return header;
}

VsockDevice::Connection* VsockDevice::find_connection_locked(
    uint32_t host_port, uint32_t guest_port)
{
    auto found = m_connections.find(host_port);
    if (found == m_connections.end() || found->second->guest_port != guest_port
        || found->second->finished)
        return nullptr;
    return found->second.get();
}

// Ports wrap around only after some four billion connections, so a port
// handed out before a capture is not reused for a connection after it.
uint32_t VsockDevice::allocate_host_port_locked()
{
    for (;;) {
        uint32_t port = m_next_host_port;
        m_next_host_port = port + 1 == kAnyPort ? kFirstHostPort : port + 1;
        if (!m_connections.contains(port))
            return port;
    }
}

void VsockDevice::update_interest_locked(Connection& connection)
{
    uint32_t wanted = 0;
    if (connection.may_send_to_guest() && connection.peer_credit() > 0 && !m_rx_starved)
        wanted |= EPOLLIN;
    if (!connection.to_host.empty())
        wanted |= EPOLLOUT;
    if (wanted == connection.epoll_events && connection.registered == (wanted != 0))
        return;

    // Unregistered rather than registered for nothing: epoll reports a hang
    // up even without interest, which would spin the I/O thread.
    epoll_event event{.events = wanted, .data = {.u64 = connection.host_port}};
    int operation = wanted == 0 ? EPOLL_CTL_DEL
        : connection.registered ? EPOLL_CTL_MOD
                                : EPOLL_CTL_ADD;
    if (epoll_ctl(m_epoll.get(), operation, connection.socket.get(), &event) != 0) {
        log::warn(
            "vsock: epoll_ctl for connection %u: %s", connection.host_port, std::strerror(errno));
        abort_connection_locked(connection);
        return;
    }
    connection.epoll_events = wanted;
    connection.registered = wanted != 0;
}

void VsockDevice::reap_finished_locked()
{
    for (auto it = m_connections.begin(); it != m_connections.end();) {
        Connection& connection = *it->second;
        if (!connection.finished) {
            ++it;
            continue;
        }
        if (connection.registered)
            epoll_ctl(m_epoll.get(), EPOLL_CTL_DEL, connection.socket.get(), nullptr);
        if (connection.pending) {
            connection.pending->outcome = PendingConnect::Outcome::Reset;
            m_changed.notify_all();
        }
        it = m_connections.erase(it);
    }
}

void VsockDevice::close_all_connections_locked()
{
    for (auto& [port, connection] : m_connections)
        connection->finished = true;
    reap_finished_locked();
}

Result<UniqueFd> VsockDevice::connect(uint32_t guest_port, std::chrono::milliseconds timeout)
{
    auto deadline = std::chrono::steady_clock::now() + timeout;
    std::unique_lock lock(m_mutex);
    if (!m_changed.wait_until(lock, deadline, [this] { return connect_allowed_locked(); })) {
        const char* cause = !m_active || m_stopping ? "timed out: device not started"
            : m_quiesced                            ? "timed out: device quiesced for capture"
                         : "timed out: guest has not taken the transport reset";
        return connect_error(ErrorCode::Timeout, guest_port, cause);
    }

    auto [host_end, device_end] = TRY(make_socket_pair());
    PendingConnect pending;
    auto connection = std::make_unique<Connection>();
    connection->host_port = allocate_host_port_locked();
    connection->guest_port = guest_port;
    connection->socket = std::move(device_end);
    connection->pending = &pending;
    uint32_t host_port = connection->host_port;
    m_connections.emplace(host_port, std::move(connection));
    m_control.push_back({host_port, guest_port, VsockOp::Request, 0});
    service_locked();

    m_changed.wait_until(
        lock, deadline, [&] { return pending.outcome != PendingConnect::Outcome::Waiting; });
    switch (pending.outcome) {
    case PendingConnect::Outcome::Accepted:
        return std::move(host_end);
    case PendingConnect::Outcome::Refused:
        return connect_error(ErrorCode::NotFound, guest_port, "refused");
    case PendingConnect::Outcome::Reset:
        return connect_error(ErrorCode::Guest, guest_port, "failed: device reset or quiesced");
    case PendingConnect::Outcome::Waiting:
        break;
    }
    cancel_connect_locked(host_port);
    return connect_error(ErrorCode::Timeout, guest_port, "timed out");
}

bool VsockDevice::connect_allowed_locked() const
{
    return m_active && !m_stopping && !m_quiesced && m_transport_reset == TransportReset::None;
}

// The guest may still answer a request we gave up on: the reset tells it to
// drop the connection, and a late answer finds no connection and is reset too.
void VsockDevice::cancel_connect_locked(uint32_t host_port)
{
    auto found = m_connections.find(host_port);
    if (found == m_connections.end())
        return;
    found->second->pending = nullptr;
    abort_connection_locked(*found->second);
    service_locked();
    reap_finished_locked();
}

} // namespace spore
