#pragma once

// A loopback HTTP/1.1 server for the peers no real server imitates: hostile
// responses, redirects to storage, refused tokens. It answers connections
// one at a time, each with one response, and keeps every request head it
// read. Every wait is bounded, so a test whose client never connects, or
// stops reading, still ends.

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace spore::remote::testing {

class ScriptedServer {
public:
    // The whole response, status line to body, for one request head.
    using Handler = std::function<std::string(const std::string& head)>;

    // Answers each request with what handler returns, called on the
    // server's thread. filler_bytes of 'x' follow every response, or as
    // many as the client reads before it hangs up.
    explicit ScriptedServer(Handler handler, size_t filler_bytes = 0);
    // Answers every request with the same response.
    explicit ScriptedServer(std::string response, size_t filler_bytes = 0);
    // Stops accepting and waits for the connection being answered.
    ~ScriptedServer();
    ScriptedServer(const ScriptedServer&) = delete;
    ScriptedServer& operator=(const ScriptedServer&) = delete;

    // "127.0.0.1:port", as a registry host.
    std::string host() const;
    // "http://127.0.0.1:port", as a base URL.
    std::string url() const;
    // The request heads received so far, in order.
    std::vector<std::string> heads();
    // The first request head, or "" before one arrived.
    std::string first_head();

private:
    void serve();
    void answer(int connection);
    bool send_all(int fd, std::string_view data);

    Handler m_handler;
    size_t m_filler_bytes;
    int m_listener = -1;
    // Written once by the destructor to end the server's wait to accept.
    int m_wake[2] = {-1, -1};
    uint16_t m_port = 0;
    std::atomic<bool> m_stop{false};
    std::thread m_thread;
    // Guards m_heads, which the server's thread appends to.
    std::mutex m_lock;
    std::vector<std::string> m_heads;
};

} // namespace spore::remote::testing
