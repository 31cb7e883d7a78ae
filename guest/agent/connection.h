#pragma once

#include <chrono>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "common/error.h"
#include "common/unique_fd.h"
#include "exec/protocol.h"

namespace spore::agent {

using Clock = std::chrono::steady_clock;

// One host connection on the agent's side: its socket, the frames read
// from it, and the bytes queued to it. The socket is non-blocking: sends
// take what fits and the rest waits for the socket to drain, so no peer can
// stall the agent.
class Connection {
public:
    // Where the exchange on this connection stands.
    enum class State {
        AwaitingRequest, // no REQUEST or ATTACH yet; deadline bounds the wait
        Attached, // streaming the output of session_id
        Closing, // last frame queued; deadline bounds the flush and linger
    };

    // What one receive() found.
    enum class Received { Data, Nothing, EndOfStream, Broken };

    Connection(UniqueFd socket, uint64_t serial, Clock::time_point request_deadline)
        : deadline(request_deadline)
        , m_socket(std::move(socket))
        , m_serial(serial)
    {
    }

    int fd() const { return m_socket.get(); }

    // Number for event-loop bookkeeping, never reused.
    uint64_t serial() const { return m_serial; }

    // Reads what the socket holds into the frame decoder (discarded once
    // Closing, unless an ACK may come). Broken is a reset or any other
    // socket error.
    Received receive();

    // Frames received so far.
    exec::FrameDecoder& decoder() { return m_decoder; }

    // Appends an encoded frame to the bytes waiting to be sent.
    void queue(std::span<const uint8_t> frame);

    // Whether queued bytes wait for the socket.
    bool has_pending() const { return m_sent < m_pending.size(); }

    // Sends as much of the queue as the socket takes now; an error means
    // the host is gone.
    Result<void> flush();

    // Shuts down the sending direction once, after the last frame.
    void finish_sending();

    // Closes the socket; the object stays until the event loop's next sweep.
    void close() { m_socket.reset(); }
    bool closed() const { return !m_socket.valid(); }

    State state = State::AwaitingRequest;

    // The session this connection serves; while Closing after EXIT, the
    // session whose EXIT the host may acknowledge with an ACK.
    std::string session_id;
    bool acknowledges_exit = false;

    // When the current state times out; meaningful unless Attached.
    Clock::time_point deadline;

    // Whether EPOLLOUT is requested for this socket.
    bool wants_write = false;

    // The stream to offer first when both have output, alternated so that
    // neither starves the other during a replay.
    size_t next_stream = 0;

private:
    UniqueFd m_socket;
    uint64_t m_serial;
    exec::FrameDecoder m_decoder;
    std::vector<uint8_t> m_pending;
    size_t m_sent = 0;
    bool m_sending_finished = false;
};

} // namespace spore::agent
