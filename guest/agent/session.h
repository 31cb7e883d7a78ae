#pragma once

#include <sys/types.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "common/error.h"
#include "common/unique_fd.h"
#include "exec/protocol.h"
#include "guest/agent/command.h"
#include "guest/agent/output_buffer.h"

namespace spore::agent {

// Index of each output stream in a Session.
inline constexpr size_t kStdoutIndex = 0;
inline constexpr size_t kStderrIndex = 1;

// A fresh session id: 128 bits from getrandom() as lower-case hex.
Result<std::string> make_session_id();

// One command and everything the agent keeps of it: the tail of each output
// stream, its exit status once reaped, and where the attached client (if
// any) stands. It outlives connections; the agent forgets it only once a
// client has acknowledged EXIT, or to make room for a new one.
class Session {
public:
    // One output stream of the command.
    struct Stream {
        exec::FrameType type; // Stdout or Stderr, for frames
        UniqueFd pipe; // read end; invalid after EOF and once the session finished
        OutputBuffer buffer;
        uint64_t sent = 0; // the attached client's next offset
    };

    // What one read from a pipe found.
    enum class ReadResult { Data, Empty, EndOfFile };

    // program and working_directory name what failed if the command cannot start.
    Session(std::string id, uint64_t serial, std::string program, std::string working_directory,
        SpawnedCommand command);
    Session(const Session&) = delete;
    Session& operator=(const Session&) = delete;

    // A command still running is killed and reaped, so no session leaves a
    // stray process group or a zombie behind.
    ~Session();

    const std::string& id() const { return m_id; }

    // Number for event-loop bookkeeping, never reused.
    uint64_t serial() const { return m_serial; }

    // The command's pid until it was reaped, then -1.
    pid_t pid() const { return m_pid; }

    Stream& stream(size_t index) { return m_streams[index]; }
    const Stream& stream(size_t index) const { return m_streams[index]; }

    // Reads once from a stream's pipe into its buffer, at most limit bytes.
    Result<ReadResult> read_output(size_t index, size_t limit);

    // Reads what a stream's pipe holds right now, however much that is;
    // anything written later is not waited for.
    Result<void> drain_output(size_t index);

    // Records that the command was reaped: the launch failure, if any, goes
    // to stderr. The caller drains and closes the pipes.
    void set_exited(int wait_status);

    // The exit status, once the command was reaped and its pipes drained
    // and closed: the session's output is complete.
    std::optional<exec::ExitStatus> status() const;

    // Whether the command was reaped.
    bool exited() const { return m_pid < 0; }

    // Serial of the attached connection, if one is attached.
    std::optional<uint64_t> client;

    // When the session finished, in the agent's own count; the oldest
    // finished session is dropped first.
    uint64_t finish_order = 0;

    // Bytes of a stream that the agent may forget: all of them while
    // detached; only those already sent while a client is attached.
    uint64_t droppable(size_t index) const;

    // Bytes of a stream not yet sent to the attached client.
    uint64_t unsent(size_t index) const;

    // Forgets the oldest bytes of a stream beyond capacity, but never bytes
    // that an attached client has yet to receive.
    void trim(size_t index, uint64_t capacity);

private:
    std::string m_id;
    uint64_t m_serial;
    std::string m_program;
    std::string m_working_directory;
    pid_t m_pid;
    UniqueFd m_report_pipe;
    std::optional<exec::ExitStatus> m_exit;
    std::array<Stream, 2> m_streams;
};

} // namespace spore::agent
