#include "guest/agent/session.h"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

#include "exec/protocol.h"
#include "guest/agent/command.h"

namespace spore::agent {
namespace {

using exec::FrameType;
using Clock = std::chrono::steady_clock;

constexpr size_t kReadChunk = 64 * 1024;

// How long the session waits for the host to hang up after EXIT.
constexpr std::chrono::milliseconds kLingerTimeout{1000};

std::span<const uint8_t> bytes_of(std::string_view text)
{
    return {reinterpret_cast<const uint8_t*>(text.data()), text.size()};
}

// Waits for fd to become readable; timeout_ms < 0 waits forever.
Result<bool> wait_readable(int fd, int timeout_ms)
{
    pollfd entry{fd, POLLIN, 0};
    while (true) {
        int ready = ::poll(&entry, 1, timeout_ms);
        if (ready >= 0)
            return ready > 0;
        if (errno != EINTR)
            return Error::from_errno("spore-agent: poll");
    }
}

Result<void> send_all(int fd, std::span<const uint8_t> bytes)
{
    while (!bytes.empty()) {
        ssize_t sent = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
        if (sent < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN) {
                pollfd entry{fd, POLLOUT, 0};
                ::poll(&entry, 1, -1);
                continue;
            }
            return Error::from_errno("exec: sending to the host");
        }
        bytes = bytes.subspan(static_cast<size_t>(sent));
    }
    return {};
}

// Tells the host why the exchange ends; the connection may already be gone.
void report_failure(int fd, const Error& error)
{
    [[maybe_unused]] auto sent = send_all(fd, exec::encode_error(error.message()));
}

// Reads frames until the request is complete, within kRequestTimeout.
Result<exec::ExecRequest> read_request(int fd)
{
    exec::FrameDecoder decoder;
    auto deadline = Clock::now() + kRequestTimeout;
    std::vector<uint8_t> buffer(kReadChunk);
    while (true) {
        if (auto frame = TRY(decoder.next())) {
            if (frame->type != FrameType::Request)
                return Error::invalid(
                    "exec: expected a request, got " + frame_type_name(frame->type));
            if (decoder.buffered() != 0)
                return Error::invalid("exec: unexpected data after the request");
            return exec::parse_request(frame->payload);
        }

        auto remaining
            = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
        if (!TRY(wait_readable(fd, static_cast<int>(std::max<long long>(remaining.count(), 0)))))
            return Error::timeout("exec: no request from the host in time");
        ssize_t received = ::recv(fd, buffer.data(), buffer.size(), 0);
        if (received == 0)
            return Error(
                ErrorCode::Interrupted, "exec: host closed the connection before the request");
        if (received < 0 && errno != EINTR && errno != EAGAIN)
            return Error::from_errno("exec: receiving the request");
        if (received > 0)
            decoder.feed(std::span(buffer.data(), static_cast<size_t>(received)));
    }
}

// Moves the command's output to the host as offset-numbered frames until
// the command exits.
class OutputPump {
public:
    OutputPump(int connection_fd, RunningCommand& command)
        : m_connection_fd(connection_fd)
        , m_command(command)
        , m_stdout{FrameType::Stdout, &command.stdout_pipe()}
        , m_stderr{FrameType::Stderr, &command.stderr_pipe()}
        , m_buffer(kReadChunk)
    {
    }

    Result<exec::ExitStatus> run()
    {
        if (const auto& failure = m_command.launch_failure())
            TRY(send_chunk(m_stderr, bytes_of(*failure)));
        TRY(pump_until_exit());

        // Bytes the command wrote before exiting are already in the pipes;
        // only its leftover background processes could still add more.
        TRY(drain(m_stdout));
        TRY(drain(m_stderr));
        return m_command.wait();
    }

private:
    struct Stream {
        FrameType type;
        UniqueFd* pipe;
        uint64_t offset = 0;
    };

    Result<void> pump_until_exit()
    {
        while (true) {
            pollfd entries[4] = {
                {m_connection_fd, POLLIN, 0},
                {m_stdout.pipe->get(), POLLIN, 0},
                {m_stderr.pipe->get(), POLLIN, 0},
                {m_command.exit_fd(), POLLIN, 0},
            };
            if (::poll(entries, 4, -1) < 0) {
                if (errno == EINTR)
                    continue;
                return Error::from_errno("spore-agent: poll");
            }
            if (entries[0].revents)
                TRY(check_host());
            if (entries[1].revents)
                TRY(forward(m_stdout));
            if (entries[2].revents)
                TRY(forward(m_stderr));
            if (entries[3].revents)
                return {};
        }
    }

    // The host speaks only once in version 1: readable means it hung up
    // or broke the protocol, and either way the command must go.
    Result<void> check_host()
    {
        uint8_t byte;
        ssize_t received = ::recv(m_connection_fd, &byte, 1, MSG_DONTWAIT | MSG_PEEK);
        if (received < 0 && (errno == EAGAIN || errno == EINTR))
            return {};
        m_command.kill_group();
        if (received > 0)
            return Error::invalid("exec: unexpected data from the host after the request");
        return Error(ErrorCode::Interrupted, "exec: host closed the connection; command killed");
    }

    // One read from a pipe, sent as one frame; false at EOF or when empty.
    Result<bool> forward(Stream& stream)
    {
        if (!stream.pipe->valid())
            return false;
        ssize_t length = ::read(stream.pipe->get(), m_buffer.data(), m_buffer.size());
        if (length > 0) {
            TRY(send_chunk(stream, std::span(m_buffer.data(), static_cast<size_t>(length))));
            return true;
        }
        if (length == 0)
            stream.pipe->reset();
        else if (errno != EAGAIN && errno != EINTR)
            return Error::from_errno("spore-agent: reading command output");
        return false;
    }

    Result<void> drain(Stream& stream)
    {
        while (TRY(forward(stream))) { }
        return {};
    }

    Result<void> send_chunk(Stream& stream, std::span<const uint8_t> data)
    {
        auto sent
            = send_all(m_connection_fd, exec::encode_output(stream.type, stream.offset, data));
        if (!sent) {
            m_command.kill_group();
            return sent.error().with_context("command killed");
        }
        stream.offset += data.size();
        return {};
    }

    int m_connection_fd;
    RunningCommand& m_command;
    Stream m_stdout;
    Stream m_stderr;
    std::vector<uint8_t> m_buffer;
};

// Half-closes and waits briefly for the host to hang up, so the socket is
// not torn down while the EXIT frame may still be in flight.
void linger(int fd)
{
    ::shutdown(fd, SHUT_WR);
    [[maybe_unused]] auto closed = wait_readable(fd, static_cast<int>(kLingerTimeout.count()));
}

} // namespace

Result<void> serve_exec_session(int connection_fd)
{
    auto request = read_request(connection_fd);
    if (!request) {
        report_failure(connection_fd, request.error());
        return request.release_error();
    }
    auto command = RunningCommand::start(*request);
    if (!command) {
        report_failure(connection_fd, command.error());
        return command.release_error();
    }

    OutputPump pump(connection_fd, *command);
    auto status = pump.run();
    if (!status) {
        report_failure(connection_fd, status.error());
        return status.release_error();
    }
    TRY(send_all(connection_fd, exec::encode_exit(*status)));
    linger(connection_fd);
    return {};
}

} // namespace spore::agent
