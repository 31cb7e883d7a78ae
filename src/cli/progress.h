#pragma once

// A one-line progress display for long transfers, drawn on stderr only
// when stderr is a terminal, at most ten times a second.

#include <chrono>
#include <cstdint>
#include <string>

namespace spore::cli {

// "1.5 MiB", "512 B": binary units, one decimal.
std::string format_bytes(uint64_t bytes);

class ProgressLine {
public:
    // label names the transfer ("pull 000042"); noun counts items ("chunks").
    ProgressLine(std::string label, std::string noun);
    ~ProgressLine() { finish(); }
    ProgressLine(const ProgressLine&) = delete;
    ProgressLine& operator=(const ProgressLine&) = delete;

    // Redraws the line if enough time has passed or the work is done.
    void update(
        uint64_t items_done, uint64_t items_total, uint64_t bytes_done, uint64_t bytes_total);

    // Ends the line, so later output starts on a fresh one.
    void finish();

    // The line as it would be drawn, for tests.
    std::string render(uint64_t items_done, uint64_t items_total, uint64_t bytes_done,
        uint64_t bytes_total, double seconds) const;

private:
    std::string m_label;
    std::string m_noun;
    bool m_enabled;
    bool m_drawn = false;
    std::chrono::steady_clock::time_point m_started;
    std::chrono::steady_clock::time_point m_last_draw;
};

} // namespace spore::cli
