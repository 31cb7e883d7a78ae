#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "common/error.h"

namespace spore {

struct FanoutOptions {
    std::string batch;                 // a fork batch directory
    std::vector<std::string> command;  // empty: reattach to what was running
    unsigned jobs = 1;                 // children running at once
    std::optional<std::chrono::milliseconds> duration; // stop children still running after this
    std::string spore_executable;      // the spore binary that resumes each child
};

// How one child ended.
struct ChildOutcome {
    std::string name;
    enum class State { Exited, Stopped, Failed } state = State::Failed;
    int exit_status = 0;               // for Exited
    double seconds = 0;
};

struct FanoutResult {
    std::vector<ChildOutcome> children;
    bool any_failed() const;
};

// The child spores of a batch: subdirectories named by digits that hold a
// manifest.json, in name order.
Result<std::vector<std::string>> list_children(const std::string& batch);

// Resumes every child of a batch as a separate `spore run --from CHILD --
// CMD` (or `spore resume CHILD`) process, at most options.jobs at a time,
// prefixing each line of their stdout and stderr with "[NAME] " on ours.
// Children still running when the duration ends are stopped (SIGTERM, then
// SIGKILL after a grace period).
Result<FanoutResult> fanout(const FanoutOptions& options);

// A one-line-per-child summary, or a JSON object.
std::string fanout_summary(const FanoutResult& result, bool json);

// Parses "20s", "5m", "1h", "500ms" or a bare number of seconds.
Result<std::chrono::milliseconds> parse_duration(const std::string& text);

} // namespace spore
