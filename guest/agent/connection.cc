#include "guest/agent/connection.h"

#include <sys/socket.h>

#include <array>
#include <cerrno>

namespace spore::agent {
namespace {

constexpr size_t kReceiveChunk = 64 * 1024;

} // namespace

Connection::Received Connection::receive()
{
    std::array<uint8_t, kReceiveChunk> buffer;
    ssize_t received = ::recv(m_socket.get(), buffer.data(), buffer.size(), MSG_DONTWAIT);
    if (received > 0) {
        if (state != State::Closing || acknowledges_exit)
            m_decoder.feed(std::span(buffer.data(), static_cast<size_t>(received)));
        return Received::Data;
    }
    if (received == 0)
        return Received::EndOfStream;
    if (errno == EAGAIN || errno == EINTR)
        return Received::Nothing;
    return Received::Broken;
}

void Connection::queue(std::span<const uint8_t> frame)
{
    if (m_sent == m_pending.size()) {
        m_pending.clear();
        m_sent = 0;
    }
    m_pending.insert(m_pending.end(), frame.begin(), frame.end());
}

Result<void> Connection::flush()
{
    while (has_pending()) {
        ssize_t sent = ::send(m_socket.get(), m_pending.data() + m_sent, m_pending.size() - m_sent,
            MSG_DONTWAIT | MSG_NOSIGNAL);
        if (sent > 0) {
            m_sent += static_cast<size_t>(sent);
            continue;
        }
        if (sent < 0 && errno == EINTR)
            continue;
        if (sent < 0 && errno == EAGAIN)
            return {};
        return Error::from_errno("exec: sending to the host");
    }
    m_pending.clear();
    m_sent = 0;
    return {};
}

void Connection::finish_sending()
{
    if (m_sending_finished)
        return;
    m_sending_finished = true;
    ::shutdown(m_socket.get(), SHUT_WR);
}

} // namespace spore::agent
