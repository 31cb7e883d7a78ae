#pragma once

#include <cstdio>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "common/error.h"

namespace spore {

// Where the guest console goes during `spore run`: a log file (echoed to
// stderr under --debug), so a failed boot can be diagnosed afterwards.
// A log the user did not ask for is removed when the run succeeds.
class ConsoleLog {
public:
    // Opens the requested path, or a per-process file in the runtime
    // directory ($SPOREVM_RUNTIME_DIR, else $XDG_RUNTIME_DIR/sporevm, else
    // /tmp/sporevm-UID).
    static Result<ConsoleLog> create(const std::optional<std::string>& requested_path);
    ConsoleLog(ConsoleLog&& other) noexcept;
    ConsoleLog& operator=(ConsoleLog&&) = delete;
    ~ConsoleLog();

    // Thread-safe: devices call it from vCPU and I/O threads.
    void append(std::string_view text);
    const std::string& path() const { return m_path; }
    // The kernel's panic line if it printed one, else the last complete
    // non-empty line, for error messages.
    std::string last_line() const;
    void finish_successfully();

private:
    ConsoleLog(std::string path, std::FILE* file, bool keep) : m_path(std::move(path)), m_file(file), m_keep(keep) {}

    std::string m_path;
    std::FILE* m_file;
    bool m_keep;
    mutable std::mutex m_lock;
    std::string m_partial;
    std::string m_last_line;
    std::string m_panic_line;
};

std::string runtime_directory();

} // namespace spore
