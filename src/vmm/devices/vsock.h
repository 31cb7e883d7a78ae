#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "common/log.h"
#include "common/unique_fd.h"
#include "virtio/virtio_device.h"
#include "vmm/devices/vsock_packet.h"

namespace spore {

// virtio-vsock (device id 19, virtio 1.2 §5.10): stream connections that
// the host opens to ports the guest listens on.
//
// Host side: connect() asks the guest to accept a connection and, once it
// does, returns the host end of an AF_UNIX stream socket pair; the device
// forwards bytes between the other end and the guest. The host end reads
// EOF when the guest shuts down its sending side or the connection ends.
// When the host end hits EOF (closed or shut down for writing), the guest
// gets OP_SHUTDOWN for both directions and, once the guest's bytes already
// accepted are written, OP_RST: a host half-close is not supported.
// Connections the guest opens are refused with OP_RST.
//
// Flow control is the spec's credit scheme. We grant kBufferAllocation bytes
// per connection and count as forwarded only bytes written into the host
// socket, so at most that much waits in memory; a guest that sends beyond
// its credit has its connection reset. Host bytes go to the guest only
// within the credit the guest grants.
//
// Threading: m_mutex guards all device state, queues included. Transmit
// packets from the guest are handled on the vCPU thread that notifies, and
// a receive notify delivers what was waiting for buffers on that thread
// too. The I/O thread, started by activate() and joined by reset() and the
// destructor, waits in epoll on the host sockets (and an eventfd that tells
// it to stop) and forwards host bytes to the guest. connect() may be called
// from any other thread at any time. Lock order: the transport's state
// lock, then m_mutex, then the transport's interrupt lock.
//
// Reset (by the driver or on destruction) closes every connection: host
// ends read EOF and connect() calls in progress fail.
//
// Capture: open connections are not saved (the protocols on top start fresh
// conversations). quiesce() stops the I/O thread after its current pass,
// gives host readers a short while to take the guest bytes already accepted,
// then closes every connection, so host ends read EOF, drops replies still
// waiting for receive buffers, and returns the receive chain it held. After
// resume(), or activation on restored queues, the guest's connected sockets
// are stale: the device sends VIRTIO_VSOCK_EVENT_TRANSPORT_RESET on the
// event queue (§5.10.6.6) as soon as the driver has an event buffer posted,
// and connect() waits until the driver has handled it (it posts a fresh
// event buffer afterwards), since the reset would also drop a connection
// accepted before it. Host ports continue from the saved next_host_port, so
// a new connection never reuses a port the guest may still know.
class VsockDevice final : public VirtioDevice {
public:
    // Receive buffer we grant the guest per connection (buf_alloc).
    static constexpr uint32_t kBufferAllocation = 256 * 1024;
    // Header-only packets that may wait for receive buffers; beyond this the
    // transmit queue is not read, so a guest that never refills its receive
    // queue cannot make us queue replies without bound.
    static constexpr size_t kMaxQueuedReplies = 1024;

    // A device for a guest with context id guest_cid (3 or more).
    static Result<std::unique_ptr<VsockDevice>> create(uint64_t guest_cid);
    ~VsockDevice() override;
    VsockDevice(const VsockDevice&) = delete;
    VsockDevice& operator=(const VsockDevice&) = delete;

    // Connects to guest_port, waiting up to timeout, also for the driver to
    // start the device, for a quiesced device to resume and for the guest to
    // take a transport reset. Errors: NotFound if the guest refused (nothing
    // listens), Timeout if it did not answer, Guest if the device was reset
    // or quiesced meanwhile.
    Result<UniqueFd> connect(uint32_t guest_port, std::chrono::milliseconds timeout);

    // Device id, features and the rx, tx and event queues.
    VirtioDeviceInfo info() const override;
    // Reads the configuration: the guest's context id.
    void read_config(uint64_t offset, std::span<uint8_t> data) const override;
    // Ignores writes: the configuration is read-only.
    void write_config(uint64_t offset, std::span<const uint8_t> data) override;
    // Takes the queues and starts the I/O thread.
    Result<void> activate(VirtioActivation activation) override;
    // Handles transmit packets and delivers what waited for receive buffers.
    void queue_notify(uint16_t queue_index) override;
    // Stops the I/O thread and closes every connection.
    void reset() override;

    // Stops the I/O thread and closes every connection (see the class comment).
    Result<void> quiesce() override;
    // Restarts the I/O thread and announces the transport reset to the guest.
    Result<void> resume() override;
    // The positions of the rx, tx and event queues.
    std::vector<QueuePosition> queue_positions() const override;
    // guest_cid (u64) and next_host_port (u32, where host port allocation
    // continues).
    Result<NamedValues> save_state() const override;
    // Takes next_host_port; refuses a guest_cid other than this device's.
    Result<void> restore_state(const NamedValues& values) override;

private:
    struct Connection;
    struct PendingConnect;

    // A header-only packet waiting for a receive buffer.
    struct ControlPacket {
        uint32_t host_port;
        uint32_t guest_port;
        VsockOp op;
        uint32_t flags;
    };

    // Progress of a VIRTIO_VSOCK_EVENT_TRANSPORT_RESET announcement.
    enum class TransportReset {
        None, // nothing to announce
        Pending, // waiting for an event buffer
        Delivered, // waiting for the driver to post a fresh event buffer
    };

    VsockDevice(uint64_t guest_cid, UniqueFd epoll, UniqueFd wake);

    void start_io_thread_locked();
    void run_io_thread();
    void stop_io_thread();
    void note_readiness_locked(uint64_t token, uint32_t events);

    // Everything below requires m_mutex.
    void service_locked();
    bool connect_allowed_locked() const;
    void announce_transport_reset_locked();
    void flush_before_close_locked();
    void return_spare_rx_locked();
    void process_tx_locked();
    void handle_guest_packet_locked(const VsockPacket& packet);
    void handle_connect_reply_locked(Connection& connection, VsockOp op);
    void handle_guest_shutdown_locked(Connection& connection, uint32_t flags);
    void handle_guest_data_locked(Connection& connection, std::span<const uint8_t> payload);
    void flush_to_host_locked(Connection& connection);
    void pump_to_guest_locked(Connection& connection);
    void handle_host_eof_locked(Connection& connection);
    void finish_if_flushed_locked(Connection& connection);
    void abort_connection_locked(Connection& connection);
    void queue_control_locked(Connection& connection, VsockOp op, uint32_t flags = 0);
    void deliver_control_locked();
    std::optional<DescriptorChain> next_rx_chain_locked();
    void send_to_guest_locked(
        const DescriptorChain& chain, VsockHeader header, std::span<const uint8_t> payload);
    VsockHeader header_locked(uint32_t host_port, uint32_t guest_port, VsockOp op);
    Connection* find_connection_locked(uint32_t host_port, uint32_t guest_port);
    uint32_t allocate_host_port_locked();
    void update_interest_locked(Connection& connection);
    void reap_finished_locked();
    void close_all_connections_locked();
    void cancel_connect_locked(uint32_t host_port);

    const uint64_t m_guest_cid;
    UniqueFd m_epoll;
    UniqueFd m_wake;

    mutable std::mutex m_mutex;
    // Activation, reset, quiesce, resume, transport reset and connect outcomes.
    std::condition_variable m_changed;
    bool m_active = false;
    bool m_stopping = false;
    bool m_quiesced = false;
    TransportReset m_transport_reset = TransportReset::None;
    uint16_t m_event_avail_at_delivery = 0; // the event queue's avail index then
    GuestMemory* m_memory = nullptr;
    std::vector<Queue> m_queues;
    std::function<void()> m_signal_used_buffer;
    bool m_needs_signal = false;
    // A receive chain taken from the ring but not filled, used first next time.
    std::optional<DescriptorChain> m_spare_rx;
    bool m_rx_starved = false;
    std::deque<ControlPacket> m_control;
    std::map<uint32_t, std::unique_ptr<Connection>> m_connections; // by host port
    uint32_t m_next_host_port;
    std::vector<uint8_t> m_scratch;
    RateLimit m_packet_log;
    RateLimit m_queue_log;

    std::thread m_io_thread;
};

} // namespace spore
