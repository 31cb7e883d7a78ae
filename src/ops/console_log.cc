#include "ops/console_log.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <utility>

#include "common/log.h"

namespace spore {

std::string runtime_directory()
{
    if (const char* directory = std::getenv("SPOREVM_RUNTIME_DIR"); directory && *directory)
        return directory;
    if (const char* directory = std::getenv("XDG_RUNTIME_DIR"); directory && *directory)
        return std::string(directory) + "/sporevm";
    return "/tmp/sporevm-" + std::to_string(getuid());
}

Result<ConsoleLog> ConsoleLog::create(const std::optional<std::string>& requested_path)
{
    std::string path = requested_path.value_or("");
    if (path.empty()) {
        std::string directory = runtime_directory();
        std::error_code error;
        std::filesystem::create_directories(directory, error);
        chmod(directory.c_str(), 0700);
        path = directory + "/run-" + std::to_string(getpid()) + ".console.log";
    }
    std::FILE* file = std::fopen(path.c_str(), "we");
    if (!file)
        return Error::from_errno("console log: " + path);
    return ConsoleLog(path, file, requested_path.has_value());
}

ConsoleLog::ConsoleLog(ConsoleLog&& other) noexcept
    : m_path(std::move(other.m_path)), m_file(std::exchange(other.m_file, nullptr)), m_keep(other.m_keep)
{
}

ConsoleLog::~ConsoleLog()
{
    if (m_file)
        std::fclose(m_file);
}

void ConsoleLog::append(std::string_view text)
{
    std::lock_guard guard(m_lock);
    if (m_file) {
        std::fwrite(text.data(), 1, text.size(), m_file);
        std::fflush(m_file);
    }
    if (log::debug_enabled())
        std::fprintf(stderr, "%.*s", static_cast<int>(text.size()), text.data());
    for (char byte : text) {
        if (byte == '\n') {
            if (m_partial.find("Kernel panic") != std::string::npos && m_panic_line.empty())
                m_panic_line = m_partial;
            if (!m_partial.empty())
                m_last_line = std::move(m_partial);
            m_partial.clear();
        } else if (byte != '\r' && m_partial.size() < 512) {
            m_partial.push_back(byte);
        }
    }
}

std::string ConsoleLog::last_line() const
{
    std::lock_guard guard(m_lock);
    if (!m_panic_line.empty())
        return m_panic_line;
    return m_last_line.empty() ? "(no console output)" : m_last_line;
}

void ConsoleLog::finish_successfully()
{
    std::lock_guard guard(m_lock);
    if (m_file)
        std::fclose(std::exchange(m_file, nullptr));
    if (!m_keep)
        unlink(m_path.c_str());
}

} // namespace spore
