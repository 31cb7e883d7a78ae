#include "guest/agent/session.h"

#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/wait.h>

#include <algorithm>
#include <cerrno>

namespace spore::agent {
namespace {

std::span<const uint8_t> bytes_of(std::string_view text)
{
    return {reinterpret_cast<const uint8_t*>(text.data()), text.size()};
}

} // namespace

Result<std::string> make_session_id()
{
    uint8_t bits[exec::kSessionIdLength / 2];
    // An id needs to be unique, not secret: never wait for the entropy pool.
    ssize_t length = getrandom(bits, sizeof bits, GRND_INSECURE);
    if (length < 0 && errno == EINVAL)
        length = getrandom(bits, sizeof bits, 0);
    if (length != static_cast<ssize_t>(sizeof bits))
        return Error::from_errno("spore-agent: getrandom");

    static constexpr char kDigits[] = "0123456789abcdef";
    std::string id;
    for (uint8_t byte : bits) {
        id += kDigits[byte >> 4];
        id += kDigits[byte & 0xf];
    }
    return id;
}

Session::Session(std::string id, uint64_t serial, std::string program,
    std::string working_directory, SpawnedCommand command)
    : m_id(std::move(id))
    , m_serial(serial)
    , m_program(std::move(program))
    , m_working_directory(std::move(working_directory))
    , m_pid(command.pid)
    , m_report_pipe(std::move(command.report_pipe))
    , m_streams{Stream{exec::FrameType::Stdout, std::move(command.stdout_pipe)},
          Stream{exec::FrameType::Stderr, std::move(command.stderr_pipe)}}
{
}

Session::~Session()
{
    if (m_pid <= 0)
        return;
    kill_command(m_pid);
    while (waitpid(m_pid, nullptr, 0) < 0 && errno == EINTR) { }
}

Result<Session::ReadResult> Session::read_output(size_t index, size_t limit)
{
    Stream& stream = m_streams[index];
    if (!stream.pipe.valid())
        return ReadResult::EndOfFile;
    auto space = stream.buffer.tail_space();
    ssize_t length = ::read(stream.pipe.get(), space.data(), std::min(space.size(), limit));
    if (length > 0) {
        stream.buffer.commit(static_cast<size_t>(length));
        return ReadResult::Data;
    }
    if (length == 0)
        return ReadResult::EndOfFile;
    if (errno == EAGAIN || errno == EINTR)
        return ReadResult::Empty;
    return Error::from_errno("spore-agent: reading command output");
}

Result<void> Session::drain_output(size_t index)
{
    Stream& stream = m_streams[index];
    if (!stream.pipe.valid())
        return {};
    // Reading until EAGAIN would never end while a background process of
    // the command keeps writing, so take only what is there now.
    int available = 0;
    if (ioctl(stream.pipe.get(), FIONREAD, &available) != 0)
        return Error::from_errno("spore-agent: FIONREAD");
    auto remaining = static_cast<size_t>(std::max(available, 0));
    while (remaining > 0) {
        auto space = stream.buffer.tail_space();
        ssize_t length = ::read(stream.pipe.get(), space.data(), std::min(space.size(), remaining));
        if (length > 0) {
            stream.buffer.commit(static_cast<size_t>(length));
            remaining -= static_cast<size_t>(length);
            continue;
        }
        if (length < 0 && errno == EINTR)
            continue;
        break;
    }
    return {};
}

void Session::set_exited(int wait_status)
{
    m_pid = -1;
    m_exit = exit_status_of(wait_status);
    // A child that could not exec wrote nothing to its pipes, so the line
    // lands at the start of stderr however late it is read.
    if (auto failure = launch_failure(m_report_pipe.get(), m_program, m_working_directory))
        m_streams[kStderrIndex].buffer.append(bytes_of(*failure));
    m_report_pipe.reset();
}

std::optional<exec::ExitStatus> Session::status() const
{
    if (m_streams[kStdoutIndex].pipe.valid() || m_streams[kStderrIndex].pipe.valid())
        return std::nullopt;
    return m_exit;
}

uint64_t Session::droppable(size_t index) const
{
    const Stream& stream = m_streams[index];
    if (!client)
        return stream.buffer.size();
    return stream.sent - stream.buffer.start();
}

uint64_t Session::unsent(size_t index) const
{
    const Stream& stream = m_streams[index];
    return client ? stream.buffer.end() - stream.sent : 0;
}

void Session::trim(size_t index, uint64_t capacity)
{
    Stream& stream = m_streams[index];
    if (stream.buffer.size() <= capacity)
        return;
    uint64_t keep_from = stream.buffer.end() - capacity;
    if (client)
        keep_from = std::min(keep_from, stream.sent);
    stream.buffer.drop_until(keep_from);
}

} // namespace spore::agent
