#pragma once

#include <atomic>
#include <chrono>
#include <cstdarg>

namespace spore {

// Diagnostic output on stderr. Debug lines appear only under `--debug`
// and carry the subsystem name and the time since the process started.
namespace log {

void set_debug(bool enabled);
bool debug_enabled();

[[gnu::format(printf, 2, 3)]] void debug(const char* subsystem, const char* format, ...);
[[gnu::format(printf, 1, 2)]] void warn(const char* format, ...);

// Milliseconds since the process started, for phase timings.
double elapsed_ms();

} // namespace log

// Lets a guest-triggerable log line through at most once per interval, so a
// hostile guest cannot flood the host's logs.
class RateLimit {
public:
    explicit RateLimit(std::chrono::milliseconds interval = std::chrono::seconds(5))
        : m_interval(interval)
    {
    }
    bool allow();
    unsigned long suppressed() const { return m_suppressed.load(); }

private:
    std::chrono::milliseconds m_interval;
    std::atomic<long long> m_next_ms{0};
    std::atomic<unsigned long> m_suppressed{0};
};

} // namespace spore
