#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"
#include "exec/generation.h"

// The exec protocol between the host and the guest agent, version 2.
// docs/exec-protocol.md is the normative specification; this file follows it.
namespace spore::exec {

// The protocol version this code speaks; a request with any other is refused.
inline constexpr uint32_t kProtocolVersion = 2;

// The vsock port the guest agent listens on.
inline constexpr uint32_t kAgentPort = 1024;

// Every frame starts with this many header bytes.
inline constexpr size_t kFrameHeaderSize = 8;

// Largest payload a frame may carry; a longer declared length is a protocol error.
inline constexpr size_t kMaxPayloadSize = 1024 * 1024;

// Bytes in front of the data of an output frame: the stream offset.
inline constexpr size_t kOutputOffsetSize = 8;

// Largest data part of one output frame.
inline constexpr size_t kMaxOutputChunk = kMaxPayloadSize - kOutputOffsetSize;

// Largest message an ERROR frame may carry.
inline constexpr size_t kMaxErrorMessage = 4096;

// Bounds on a request, checked by both the encoder and the parser.
inline constexpr size_t kMaxArguments = 4096;
inline constexpr size_t kMaxEnvironment = 4096;
inline constexpr size_t kMaxStringLength = 128 * 1024;
inline constexpr size_t kMaxWorkingDirectory = 4095;

// JSON deeper than this is refused before its version is read. Version 2
// needs 3 levels (request, params, generation); the slack lets a newer
// request be refused for its version rather than its shape.
inline constexpr int kMaxJsonDepth = 8;

// A session id: 128 random bits as lower-case hex digits.
inline constexpr size_t kSessionIdLength = 32;

// Size of a LOST payload: u8 stream, 7 zero bytes, u64 offset.
inline constexpr size_t kLostPayloadSize = 16;

// Frame types; every other value is refused in version 2.
enum class FrameType : uint8_t {
    Request = 1, // host to guest: JSON request for a new command
    Stdout = 2, // guest to host: offset + bytes of the command's stdout
    Stderr = 3, // guest to host: offset + bytes of the command's stderr
    Exit = 4, // guest to host: exit status; last frame
    Error = 5, // guest to host: why the request failed; last frame
    Attach = 6, // host to guest: JSON request to resume an existing session
    Started = 7, // guest to host: the session id; first frame of a session
    Lost = 8, // guest to host: a stream's bytes before an offset are gone
    Ack = 9, // host to guest: EXIT arrived, the session may be forgotten
};

// Lower-case name of a frame type for messages, "type 9" for unknown values.
std::string frame_type_name(FrameType type);

// One decoded frame: a known type and its payload, not yet interpreted.
struct Frame {
    FrameType type;
    std::vector<uint8_t> payload;
};

// Facts about the host that every request and attach may carry, applied to
// the guest as a whole before the command starts or the session resumes.
struct HostParameters {
    // The host's wall clock (CLOCK_REALTIME) in nanoseconds since the unix
    // epoch, 0..INT64_MAX. A resumed guest's own wall clock is stale.
    std::optional<int64_t> time_ns;

    // The parameters of the generation the guest now runs as, which the
    // agent applies unless it already has (docs/generation-device.md). The
    // host sends them with the first request or attach after a resume, so
    // that no command races the device's interrupt.
    std::optional<GenerationParameters> generation;

    bool operator==(const HostParameters&) const = default;
};

// What the host asks the guest to run.
struct ExecRequest {
    std::vector<std::string> argv; // argv[0] is searched in PATH unless it holds a '/'
    std::vector<std::string> environment; // "NAME=value" entries over the agent's defaults
    std::string working_directory = "/"; // absolute
    HostParameters parameters;

    bool operator==(const ExecRequest&) const = default;
};

// What the host asks to resume: a session the agent already runs or ran,
// with output continuing from the given offset of each stream.
struct AttachRequest {
    std::string session_id; // kSessionIdLength lower-case hex digits
    uint64_t stdout_offset = 0; // first stdout byte the host still needs
    uint64_t stderr_offset = 0; // first stderr byte the host still needs
    HostParameters parameters;

    bool operator==(const AttachRequest&) const = default;
};

// How the command ended. A command killed by a signal reports 128 + signal.
struct ExitStatus {
    uint32_t code = 0; // 0..255 for a normal exit, 128 + signal otherwise
    uint32_t signal = 0; // 0 unless a signal killed the command

    bool operator==(const ExitStatus&) const = default;
};

// One piece of the command's stdout or stderr.
struct OutputChunk {
    uint64_t offset = 0; // position of data[0] in its stream
    std::span<const uint8_t> data; // borrows the frame's payload
};

// The content of a LOST frame: the agent no longer holds the bytes of stream
// before offset that the host asked for; the stream continues at offset.
struct LostOutput {
    FrameType stream = FrameType::Stdout; // Stdout or Stderr
    uint64_t offset = 0;

    bool operator==(const LostOutput&) const = default;
};

// Splits a byte stream into frames. Headers are checked as soon as their
// eight bytes arrive, so an oversized or unknown frame is refused before its
// payload is buffered. Holds at most one frame plus the bytes of the last
// feed(). After an error every later call returns an error.
class FrameDecoder {
public:
    // Appends bytes received from the peer.
    void feed(std::span<const uint8_t> bytes);

    // The next complete frame, std::nullopt if more bytes are needed.
    Result<std::optional<Frame>> next();

    // Bytes fed but not yet returned as frames.
    size_t buffered() const { return m_buffer.size() - m_consumed; }

private:
    Result<void> check_header() const;
    void compact();

    std::vector<uint8_t> m_buffer;
    size_t m_consumed = 0;
    std::optional<Error> m_error;
};

// A frame with the given type and payload; the payload must fit kMaxPayloadSize.
std::vector<uint8_t> encode_frame(FrameType type, std::span<const uint8_t> payload);

// Checks the limits of docs/exec-protocol.md that apply to any request.
Result<void> validate_request(const ExecRequest& request);

// A REQUEST frame carrying request as version 2 JSON.
Result<std::vector<uint8_t>> encode_request(const ExecRequest& request);

// Parses and validates a REQUEST payload. Unknown versions, unknown fields,
// wrong types and out-of-bounds values are refused.
Result<ExecRequest> parse_request(std::span<const uint8_t> payload);

// Whether text has the form of a session id. Says nothing of whether the
// session exists.
bool is_session_id(std::string_view text);

// Checks the limits of docs/exec-protocol.md that apply to any attach.
Result<void> validate_attach(const AttachRequest& request);

// An ATTACH frame carrying request as version 2 JSON.
Result<std::vector<uint8_t>> encode_attach(const AttachRequest& request);

// Parses and validates an ATTACH payload, as strictly as parse_request().
Result<AttachRequest> parse_attach(std::span<const uint8_t> payload);

// A STARTED frame; session_id must satisfy is_session_id().
std::vector<uint8_t> encode_started(std::string_view session_id);

// The session id in a STARTED payload.
Result<std::string> parse_started(std::span<const uint8_t> payload);

// A LOST frame; lost.stream must be Stdout or Stderr.
std::vector<uint8_t> encode_lost(LostOutput lost);

// The stream and offset of a LOST payload.
Result<LostOutput> parse_lost(std::span<const uint8_t> payload);

// An ACK frame, which has no payload.
std::vector<uint8_t> encode_ack();

// A STDOUT or STDERR frame; data must be 1..kMaxOutputChunk bytes.
std::vector<uint8_t> encode_output(
    FrameType stream, uint64_t offset, std::span<const uint8_t> data);

// The offset and data of a STDOUT or STDERR payload.
Result<OutputChunk> parse_output(std::span<const uint8_t> payload);

// An EXIT frame.
std::vector<uint8_t> encode_exit(ExitStatus status);

// The status in an EXIT payload, refusing inconsistent code and signal.
Result<ExitStatus> parse_exit(std::span<const uint8_t> payload);

// An ERROR frame; longer messages are cut at kMaxErrorMessage bytes.
std::vector<uint8_t> encode_error(std::string_view message);

// The message of an ERROR payload with every byte that is not printable
// ASCII replaced, so guest text cannot drive the user's terminal.
Result<std::string> parse_error(std::span<const uint8_t> payload);

} // namespace spore::exec
