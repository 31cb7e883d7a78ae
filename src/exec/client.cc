#include "exec/client.h"

#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <ctime>

#include "common/log.h"

namespace spore::exec {
namespace {

constexpr size_t kReceiveChunk = 64 * 1024;

// Blocks SIGPIPE on this thread so that writing to a closed pipe returns
// EPIPE instead of killing the process. A SIGPIPE raised meanwhile is
// consumed before the old mask returns, so it is not delivered late.
class SigpipeBlock {
public:
    SigpipeBlock()
    {
        sigset_t pipe_only;
        sigemptyset(&pipe_only);
        sigaddset(&pipe_only, SIGPIPE);
        pthread_sigmask(SIG_BLOCK, &pipe_only, &m_previous);

        sigset_t pending;
        sigpending(&pending);
        m_was_pending = sigismember(&pending, SIGPIPE) == 1;
    }
    SigpipeBlock(const SigpipeBlock&) = delete;
    SigpipeBlock& operator=(const SigpipeBlock&) = delete;
    ~SigpipeBlock()
    {
        sigset_t pending;
        sigpending(&pending);
        if (!m_was_pending && sigismember(&pending, SIGPIPE) == 1) {
            sigset_t pipe_only;
            sigemptyset(&pipe_only);
            sigaddset(&pipe_only, SIGPIPE);
            const timespec no_wait{};
            sigtimedwait(&pipe_only, nullptr, &no_wait);
        }
        pthread_sigmask(SIG_SETMASK, &m_previous, nullptr);
    }

private:
    sigset_t m_previous;
    bool m_was_pending = false;
};

// Protocol violations of the guest are Guest errors, whatever the parser called them.
template <typename T> Result<T> from_guest(Result<T> result)
{
    if (result)
        return result;
    return Error::guest("exec: guest agent: " + result.error().message());
}

// Waits until fd is ready for events; a passed deadline is a Timeout.
Result<void> wait_for(int fd, short events, std::optional<Deadline> deadline)
{
    while (true) {
        int timeout_ms = -1;
        if (deadline) {
            auto remaining = std::chrono::ceil<std::chrono::milliseconds>(
                *deadline - std::chrono::steady_clock::now());
            if (remaining.count() <= 0)
                return Error::timeout("exec: no exit status from the guest agent by the deadline");
            timeout_ms = static_cast<int>(std::min<long long>(remaining.count(), INT32_MAX));
        }
        pollfd entry{fd, events, 0};
        int ready = ::poll(&entry, 1, timeout_ms);
        if (ready > 0)
            return {};
        if (ready < 0 && errno != EINTR)
            return Error::from_errno("exec: poll");
    }
}

// Sends the whole request. A guest that closes early is not an error here:
// it may have explained why in an ERROR frame, which the caller reads next.
Result<void> send_request(int fd, std::span<const uint8_t> bytes, std::optional<Deadline> deadline)
{
    while (!bytes.empty()) {
        TRY(wait_for(fd, POLLOUT, deadline));
        ssize_t sent = ::send(fd, bytes.data(), bytes.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
        if (sent < 0) {
            if (errno == EINTR || errno == EAGAIN)
                continue;
            if (errno == EPIPE || errno == ECONNRESET)
                return {};
            return Error::from_errno("exec: sending the request");
        }
        bytes = bytes.subspan(static_cast<size_t>(sent));
    }
    return {};
}

// One of the command's output streams on the host side.
struct OutputSink {
    const char* name;
    int fd;
    uint64_t* next_offset; // the caller's SessionProgress field
    bool reader_gone = false;
    bool received = false; // an output or LOST frame of this stream arrived
};

// Writes data and advances the sink's offset by every byte written, so an
// error midway still leaves the offset exact.
Result<void> write_all(OutputSink& sink, std::span<const uint8_t> data)
{
    while (!data.empty()) {
        if (sink.fd < 0 || sink.reader_gone) {
            *sink.next_offset += data.size();
            return {};
        }
        ssize_t written = ::write(sink.fd, data.data(), data.size());
        if (written >= 0) {
            *sink.next_offset += static_cast<size_t>(written);
            data = data.subspan(static_cast<size_t>(written));
            continue;
        }
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN) {
            TRY(wait_for(sink.fd, POLLOUT, std::nullopt));
            continue;
        }
        if (errno == EPIPE) {
            log::debug("exec", "%s reader went away, discarding the rest", sink.name);
            sink.reader_gone = true;
            continue;
        }
        return Error::from_errno(std::string("exec: writing ") + sink.name);
    }
    return {};
}

// Checks that a chunk continues its stream exactly, then hands it on.
Result<void> deliver(OutputSink& sink, const OutputChunk& chunk)
{
    if (chunk.offset != *sink.next_offset) {
        return Error::guest(std::string("exec: ") + sink.name + " chunk at offset "
            + std::to_string(chunk.offset) + ", expected " + std::to_string(*sink.next_offset));
    }
    sink.received = true;
    return write_all(sink, chunk.data);
}

// The state of one exchange after the request or attach went out.
class ReplyReader {
public:
    // expected_session is set for an attach: STARTED must name that session.
    ReplyReader(int connection_fd, int stdout_fd, int stderr_fd, SessionProgress& progress,
        const SessionObserver& observer, std::optional<std::string> expected_session)
        : m_connection_fd(connection_fd)
        , m_stdout{"stdout", stdout_fd, &progress.stdout_offset}
        , m_stderr{"stderr", stderr_fd, &progress.stderr_offset}
        , m_progress(progress)
        , m_observer(observer)
        , m_expected_session(std::move(expected_session))
    {
    }

    Result<ExitStatus> run(std::optional<Deadline> deadline)
    {
        while (true) {
            if (auto status = TRY(drain_frames()))
                return *status;
            TRY(wait_for(m_connection_fd, POLLIN, deadline));
            TRY(receive());
        }
    }

private:
    Result<void> receive()
    {
        std::array<uint8_t, kReceiveChunk> buffer;
        ssize_t received = ::recv(m_connection_fd, buffer.data(), buffer.size(), MSG_DONTWAIT);
        if (received == 0)
            return Error::guest("exec: guest agent closed the connection before the exit status");
        if (received < 0) {
            if (errno == EINTR || errno == EAGAIN)
                return {};
            if (errno == ECONNRESET)
                return Error::guest(
                    "exec: guest agent reset the connection before the exit status");
            return Error::from_errno("exec: receiving from the guest agent");
        }
        m_decoder.feed(std::span(buffer.data(), static_cast<size_t>(received)));
        return {};
    }

    // Handles every complete frame; a value once EXIT has arrived.
    Result<std::optional<ExitStatus>> drain_frames()
    {
        while (true) {
            auto frame = TRY(from_guest(m_decoder.next()));
            if (!frame)
                return std::optional<ExitStatus>{};
            if (auto status = TRY(handle(*frame)))
                return status;
        }
    }

    Result<std::optional<ExitStatus>> handle(const Frame& frame)
    {
        if (frame.type == FrameType::Error) {
            auto message = TRY(from_guest(parse_error(frame.payload)));
            return Error::guest("exec: guest agent: " + message);
        }
        if (frame.type == FrameType::Started) {
            TRY(handle_started(frame.payload));
            return std::optional<ExitStatus>{};
        }
        bool from_host = frame.type == FrameType::Request || frame.type == FrameType::Attach
            || frame.type == FrameType::Ack;
        if (!m_started && !from_host) {
            return Error::guest(
                "exec: guest agent sent " + frame_type_name(frame.type) + " before started");
        }
        switch (frame.type) {
        case FrameType::Stdout:
        case FrameType::Stderr: {
            auto chunk = TRY(from_guest(parse_output(frame.payload)));
            TRY(deliver(frame.type == FrameType::Stdout ? m_stdout : m_stderr, chunk));
            return std::optional<ExitStatus>{};
        }
        case FrameType::Lost:
            TRY(handle_lost(frame.payload));
            return std::optional<ExitStatus>{};
        case FrameType::Exit:
            return std::optional(TRY(from_guest(parse_exit(frame.payload))));
        case FrameType::Request:
        case FrameType::Attach:
        case FrameType::Ack:
        case FrameType::Error:
        case FrameType::Started:
            break;
        }
        return Error::guest("exec: guest agent sent a " + frame_type_name(frame.type) + " frame");
    }

    Result<void> handle_started(std::span<const uint8_t> payload)
    {
        if (m_started)
            return Error::guest("exec: guest agent sent a second started frame");
        auto session_id = TRY(from_guest(parse_started(payload)));
        if (m_expected_session && session_id != *m_expected_session)
            return Error::guest("exec: guest agent attached session " + session_id + " instead of "
                + *m_expected_session);
        m_started = true;
        m_progress.session_id = session_id;
        log::debug("exec", "session %s started", session_id.c_str());
        if (m_observer.started)
            m_observer.started(session_id);
        return {};
    }

    // The agent may say once per stream, before that stream's output, that
    // it no longer holds the bytes the attach asked for.
    Result<void> handle_lost(std::span<const uint8_t> payload)
    {
        if (!m_expected_session)
            return Error::guest("exec: guest agent sent a lost frame for a new command");
        auto lost = TRY(from_guest(parse_lost(payload)));
        OutputSink& sink = lost.stream == FrameType::Stdout ? m_stdout : m_stderr;
        if (sink.received)
            return Error::guest(
                std::string("exec: guest agent sent a late lost frame for ") + sink.name);
        if (lost.offset <= *sink.next_offset)
            return Error::guest(std::string("exec: guest agent lost ") + sink.name
                + " before offset " + std::to_string(lost.offset) + ", expected beyond "
                + std::to_string(*sink.next_offset));
        sink.received = true;
        uint64_t from = *sink.next_offset;
        log::debug("exec", "%s bytes %llu..%llu were lost in the guest", sink.name,
            static_cast<unsigned long long>(from), static_cast<unsigned long long>(lost.offset));
        m_progress.lost_bytes += lost.offset - from;
        *sink.next_offset = lost.offset;
        if (m_observer.output_lost)
            m_observer.output_lost(lost.stream, from, lost.offset);
        return {};
    }

    int m_connection_fd;
    OutputSink m_stdout;
    OutputSink m_stderr;
    SessionProgress& m_progress;
    const SessionObserver& m_observer;
    std::optional<std::string> m_expected_session;
    bool m_started = false;
    FrameDecoder m_decoder;
};

// Sends one encoded request, reads the reply to the end and acknowledges EXIT.
Result<ExitStatus> exchange(int connection_fd, std::span<const uint8_t> request_frame,
    int stdout_fd, int stderr_fd, std::optional<Deadline> deadline, SessionProgress& progress,
    const SessionObserver& observer, std::optional<std::string> expected_session)
{
    SigpipeBlock sigpipe_block;
    TRY(send_request(connection_fd, request_frame, deadline));
    ReplyReader reader(
        connection_fd, stdout_fd, stderr_fd, progress, observer, std::move(expected_session));
    auto status = TRY(reader.run(deadline));
    // The agent keeps a finished session until the host says EXIT arrived.
    // If the ACK does not fit right away the session merely stays longer.
    auto ack = encode_ack();
    ::send(connection_fd, ack.data(), ack.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
    ::shutdown(connection_fd, SHUT_WR);
    log::debug("exec", "command exited with %u (signal %u)", status.code, status.signal);
    return status;
}

} // namespace

int64_t wall_clock_ns()
{
    timespec now{};
    clock_gettime(CLOCK_REALTIME, &now);
    return static_cast<int64_t>(now.tv_sec) * 1'000'000'000 + now.tv_nsec;
}

Result<ExitStatus> run_remote_command(int connection_fd, const ExecRequest& request, int stdout_fd,
    int stderr_fd, std::optional<Deadline> deadline, SessionProgress* progress,
    const SessionObserver& observer)
{
    auto request_frame = TRY(encode_request(request));
    SessionProgress local_progress;
    SessionProgress& tracked = progress ? *progress : local_progress;
    tracked = SessionProgress{};
    return exchange(connection_fd, request_frame, stdout_fd, stderr_fd, deadline, tracked, observer,
        std::nullopt);
}

Result<ExitStatus> attach_remote_session(int connection_fd, const AttachRequest& request,
    int stdout_fd, int stderr_fd, std::optional<Deadline> deadline, SessionProgress* progress,
    const SessionObserver& observer)
{
    auto attach_frame = TRY(encode_attach(request));
    SessionProgress local_progress;
    SessionProgress& tracked = progress ? *progress : local_progress;
    tracked.session_id = request.session_id;
    tracked.stdout_offset = request.stdout_offset;
    tracked.stderr_offset = request.stderr_offset;
    return exchange(connection_fd, attach_frame, stdout_fd, stderr_fd, deadline, tracked, observer,
        request.session_id);
}

} // namespace spore::exec
