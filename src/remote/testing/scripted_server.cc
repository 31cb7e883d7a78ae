#include "remote/testing/scripted_server.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>

namespace spore::remote::testing {
namespace {

// Every wait on a client is bounded, so a test whose client stalls still ends.
constexpr int kClientWaitMilliseconds = 10000;
// Past this a request head is answered as it stands.
constexpr size_t kMaxHeadSize = 1 << 20;

// A socket listening on a free loopback port, which it stores in port;
// aborts the test binary if there is none to be had.
int listen_on_loopback(uint16_t& port)
{
    int listener = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof(address);
    bool ok = listener >= 0
        && ::bind(listener, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0
        && ::listen(listener, 8) == 0
        && ::getsockname(listener, reinterpret_cast<sockaddr*>(&address), &length) == 0;
    if (!ok)
        std::abort();
    port = ntohs(address.sin_port);
    return listener;
}

bool wait_for(int fd, short events, int milliseconds)
{
    pollfd poll_fd{fd, events, 0};
    return ::poll(&poll_fd, 1, milliseconds) == 1;
}

// Reads until the blank line that ends a request head has arrived, the
// client stops sending or hangs up, or kMaxHeadSize is reached; the result
// may run on into the start of a body.
std::string read_head(int connection)
{
    std::string head;
    char buffer[4096];
    while (head.find("\r\n\r\n") == std::string::npos && head.size() < kMaxHeadSize
        && wait_for(connection, POLLIN, kClientWaitMilliseconds)) {
        ssize_t count = ::recv(connection, buffer, sizeof(buffer), 0);
        if (count <= 0)
            break;
        head.append(buffer, static_cast<size_t>(count));
    }
    return head;
}

} // namespace

ScriptedServer::ScriptedServer(Handler handler, size_t filler_bytes)
    : m_handler(std::move(handler))
    , m_filler_bytes(filler_bytes)
{
    m_listener = listen_on_loopback(m_port);
    if (::pipe2(m_wake, O_CLOEXEC) != 0)
        std::abort();
    m_thread = std::thread([this] { serve(); });
}

ScriptedServer::ScriptedServer(std::string response, size_t filler_bytes)
    : ScriptedServer(
        [response = std::move(response)](const std::string&) { return response; }, filler_bytes)
{
}

ScriptedServer::~ScriptedServer()
{
    m_stop = true;
    char byte = 0;
    if (::write(m_wake[1], &byte, 1) != 1)
        std::abort();
    m_thread.join();
    ::close(m_listener);
    ::close(m_wake[0]);
    ::close(m_wake[1]);
}

std::string ScriptedServer::host() const
{
    return "127.0.0.1:" + std::to_string(m_port);
}

std::string ScriptedServer::url() const
{
    return "http://" + host();
}

std::vector<std::string> ScriptedServer::heads()
{
    std::lock_guard guard(m_lock);
    return m_heads;
}

std::string ScriptedServer::first_head()
{
    std::lock_guard guard(m_lock);
    return m_heads.empty() ? "" : m_heads.front();
}

void ScriptedServer::serve()
{
    while (!m_stop) {
        // The wake pipe turns readable when the destructor wants the
        // thread back; a connection may never come.
        pollfd poll_fds[] = {{m_listener, POLLIN, 0}, {m_wake[0], POLLIN, 0}};
        if (::poll(poll_fds, 2, kClientWaitMilliseconds) < 1 || !(poll_fds[0].revents & POLLIN))
            continue;
        int connection = ::accept4(m_listener, nullptr, nullptr, SOCK_CLOEXEC);
        if (connection >= 0)
            answer(connection);
    }
}

void ScriptedServer::answer(int connection)
{
    std::string head = read_head(connection);
    {
        std::lock_guard guard(m_lock);
        m_heads.push_back(head);
    }

    bool sent = send_all(connection, m_handler(head));
    std::string filler(64 << 10, 'x');
    for (size_t left = m_filler_bytes; sent && left > 0; left -= std::min(left, filler.size()))
        sent = send_all(
            connection, std::string_view(filler).substr(0, std::min(left, filler.size())));

    ::shutdown(connection, SHUT_WR);
    ::close(connection);
}

bool ScriptedServer::send_all(int fd, std::string_view data)
{
    while (!data.empty()) {
        if (m_stop || !wait_for(fd, POLLOUT, kClientWaitMilliseconds))
            return false;
        ssize_t count = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
        if (count <= 0)
            return false;
        data.remove_prefix(static_cast<size_t>(count));
    }
    return true;
}

} // namespace spore::remote::testing
