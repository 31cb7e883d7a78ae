#include "cli/progress.h"

#include <unistd.h>

#include <cstdio>

namespace spore::cli {
namespace {

constexpr int kBarWidth = 24;
constexpr auto kRedrawInterval = std::chrono::milliseconds(100);

} // namespace

std::string format_bytes(uint64_t bytes)
{
    static const char* const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double value = static_cast<double>(bytes);
    size_t unit = 0;
    while (value >= 1024 && unit + 1 < std::size(units)) {
        value /= 1024;
        unit++;
    }
    char text[32];
    if (unit == 0)
        std::snprintf(text, sizeof text, "%llu B", static_cast<unsigned long long>(bytes));
    else
        std::snprintf(text, sizeof text, "%.1f %s", value, units[unit]);
    return text;
}

ProgressLine::ProgressLine(std::string label, std::string noun)
    : m_label(std::move(label))
    , m_noun(std::move(noun))
    , m_enabled(::isatty(STDERR_FILENO) == 1)
    , m_started(std::chrono::steady_clock::now())
{
}

std::string ProgressLine::render(uint64_t items_done, uint64_t items_total, uint64_t bytes_done,
    uint64_t bytes_total, double seconds) const
{
    int filled
        = bytes_total == 0 ? kBarWidth : static_cast<int>(kBarWidth * bytes_done / bytes_total);
    std::string bar(static_cast<size_t>(filled), '#');
    bar.resize(kBarWidth, '.');
    double rate = seconds > 0 ? static_cast<double>(bytes_done) / seconds : 0;
    return m_label + " [" + bar + "] " + std::to_string(items_done) + "/"
        + std::to_string(items_total) + " " + m_noun + ", " + format_bytes(bytes_done) + " of "
        + format_bytes(bytes_total) + ", " + format_bytes(static_cast<uint64_t>(rate)) + "/s";
}

void ProgressLine::update(
    uint64_t items_done, uint64_t items_total, uint64_t bytes_done, uint64_t bytes_total)
{
    if (!m_enabled)
        return;
    auto now = std::chrono::steady_clock::now();
    if (m_drawn && now - m_last_draw < kRedrawInterval && items_done < items_total)
        return;
    m_last_draw = now;
    double seconds = std::chrono::duration<double>(now - m_started).count();
    // "\r" and erase-to-end redraw in place without scrolling the terminal.
    std::fprintf(stderr, "\r%s\033[K",
        render(items_done, items_total, bytes_done, bytes_total, seconds).c_str());
    std::fflush(stderr);
    m_drawn = true;
}

void ProgressLine::finish()
{
    if (m_drawn)
        std::fputc('\n', stderr);
    m_drawn = false;
}

} // namespace spore::cli
