#include "common/log.h"

#include <cstdio>

namespace spore::log {

namespace {

std::atomic<bool> g_debug{false};
const auto g_start = std::chrono::steady_clock::now();

void vprint(const char* prefix, const char* format, va_list arguments)
{
    char line[1024];
    std::vsnprintf(line, sizeof line, format, arguments);
    std::fprintf(stderr, "%s%s\n", prefix, line);
}

} // namespace

void set_debug(bool enabled)
{
    g_debug = enabled;
}
bool debug_enabled()
{
    return g_debug;
}

double elapsed_ms()
{
    auto since = std::chrono::steady_clock::now() - g_start;
    return std::chrono::duration<double, std::milli>(since).count();
}

void debug(const char* subsystem, const char* format, ...)
{
    if (!g_debug)
        return;
    char prefix[64];
    std::snprintf(prefix, sizeof prefix, "[%9.3f ms] %s: ", elapsed_ms(), subsystem);
    va_list arguments;
    va_start(arguments, format);
    vprint(prefix, format, arguments);
    va_end(arguments);
}

void warn(const char* format, ...)
{
    va_list arguments;
    va_start(arguments, format);
    vprint("spore: warning: ", format, arguments);
    va_end(arguments);
}

} // namespace spore::log

namespace spore {

bool RateLimit::allow()
{
    auto now = static_cast<long long>(log::elapsed_ms());
    long long next = m_next_ms.load();
    if (now >= next && m_next_ms.compare_exchange_strong(next, now + m_interval.count()))
        return true;
    m_suppressed++;
    return false;
}

} // namespace spore
