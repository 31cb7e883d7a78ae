#include "exec/protocol.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>

#include "exec/generation_json.h"
#include "exec/strict_json.h"

namespace spore::exec {
namespace {

using detail::Json;
using detail::kMaxQuotedName;
using detail::printable;
using detail::unknown_field;
using detail::unsigned_field;

void put_u32(uint8_t* out, uint32_t value)
{
    for (int index = 0; index < 4; index++)
        out[index] = static_cast<uint8_t>(value >> (8 * index));
}

void put_u64(uint8_t* out, uint64_t value)
{
    for (int index = 0; index < 8; index++)
        out[index] = static_cast<uint8_t>(value >> (8 * index));
}

uint32_t get_u32(const uint8_t* in)
{
    uint32_t value = 0;
    for (int index = 3; index >= 0; index--)
        value = (value << 8) | in[index];
    return value;
}

uint64_t get_u64(const uint8_t* in)
{
    uint64_t value = 0;
    for (int index = 7; index >= 0; index--)
        value = (value << 8) | in[index];
    return value;
}

bool is_known_type(uint8_t type)
{
    return type >= static_cast<uint8_t>(FrameType::Request)
        && type <= static_cast<uint8_t>(FrameType::Ack);
}

// Length of the UTF-8 sequence that starts with lead, 0 if lead cannot start one.
size_t utf8_sequence_length(uint8_t lead)
{
    if (lead < 0x80)
        return 1;
    if (lead >= 0xc2 && lead <= 0xdf)
        return 2;
    if (lead >= 0xe0 && lead <= 0xef)
        return 3;
    if (lead >= 0xf0 && lead <= 0xf4)
        return 4;
    return 0;
}

// Refuses overlong forms, surrogates and code points above U+10FFFF, as JSON requires.
bool is_valid_utf8(std::string_view text)
{
    size_t index = 0;
    while (index < text.size()) {
        auto lead = static_cast<uint8_t>(text[index]);
        size_t length = utf8_sequence_length(lead);
        if (length == 0 || index + length > text.size())
            return false;

        uint8_t low = 0x80, high = 0xbf;
        if (lead == 0xe0)
            low = 0xa0;
        else if (lead == 0xed)
            high = 0x9f;
        else if (lead == 0xf0)
            low = 0x90;
        else if (lead == 0xf4)
            high = 0x8f;

        for (size_t offset = 1; offset < length; offset++) {
            auto byte = static_cast<uint8_t>(text[index + offset]);
            if (byte < (offset == 1 ? low : 0x80) || byte > (offset == 1 ? high : 0xbf))
                return false;
        }
        index += length;
    }
    return true;
}

Result<void> check_string(std::string_view what, const std::string& text, size_t limit)
{
    if (text.size() > limit) {
        return Error::invalid("exec request: " + std::string(what) + ": "
            + std::to_string(text.size()) + " bytes, limit is " + std::to_string(limit));
    }
    if (text.find('\0') != std::string::npos)
        return Error::invalid("exec request: " + std::string(what) + ": contains a nul byte");
    if (!is_valid_utf8(text))
        return Error::invalid("exec request: " + std::string(what) + ": not valid utf-8");
    return {};
}

Result<void> check_strings(
    std::string_view what, const std::vector<std::string>& strings, size_t limit)
{
    if (strings.size() > limit) {
        return Error::invalid("exec request: " + std::string(what) + ": "
            + std::to_string(strings.size()) + " entries, limit is " + std::to_string(limit));
    }
    for (const auto& text : strings)
        TRY(check_string(what, text, kMaxStringLength));
    return {};
}

// Parses a request document up to and including its version, so that a
// request of another version is refused for its version, not its fields.
Result<Json> parse_document(std::span<const uint8_t> payload, std::string_view what)
{
    detail::JsonShape shape;
    Json document = detail::parse_json(payload, shape);
    std::string prefix = std::string(what) + ": ";
    if (shape.too_deep)
        return Error::invalid(prefix + "json nested too deeply");
    if (document.is_discarded())
        return Error::invalid(prefix + "malformed json");
    if (!document.is_object())
        return Error::invalid(prefix + "not a json object");

    auto version = document.find("version");
    if (version == document.end())
        return Error::invalid(prefix + "missing field version");
    if (!version->is_number_unsigned())
        return Error::invalid(prefix + "version: not an unsigned integer");
    auto number = version->get<uint64_t>();
    if (number != kProtocolVersion) {
        return Error::not_supported(prefix + "unsupported protocol version "
            + std::to_string(number) + " (this agent speaks " + std::to_string(kProtocolVersion)
            + ")");
    }

    if (shape.duplicate_key)
        return detail::duplicate_field(what, *shape.duplicate_key);
    return document;
}

Result<std::vector<std::string>> string_array(const Json& value, std::string_view what)
{
    if (!value.is_array())
        return Error::invalid("exec request: " + std::string(what) + ": not an array");
    std::vector<std::string> strings;
    strings.reserve(value.size());
    for (const auto& element : value) {
        if (!element.is_string()) {
            return Error::invalid(
                "exec request: " + std::string(what) + ": element is not a string");
        }
        strings.push_back(element.get_ref<const std::string&>());
    }
    return strings;
}

Result<HostParameters> parameters_from_json(const Json& value, std::string_view what)
{
    std::string prefix = std::string(what) + ": params";
    if (!value.is_object())
        return Error::invalid(prefix + ": not an object");
    HostParameters parameters;
    for (const auto& [key, field] : value.items()) {
        if (key == "time_ns") {
            uint64_t time_ns = TRY(unsigned_field(field, prefix + ".time_ns"));
            if (time_ns > static_cast<uint64_t>(INT64_MAX))
                return Error::invalid(prefix + ".time_ns: beyond the year 2262");
            parameters.time_ns = static_cast<int64_t>(time_ns);
        } else if (key == "generation") {
            parameters.generation
                = TRY(detail::generation_from_json(field, prefix + ".generation"));
        } else {
            return unknown_field(what, "params." + key);
        }
    }
    return parameters;
}

Result<void> validate_parameters(const HostParameters& parameters, std::string_view what)
{
    if (parameters.time_ns && *parameters.time_ns < 0)
        return Error::invalid(std::string(what) + ": params.time_ns: negative");
    if (parameters.generation)
        TRY(validate_generation_parameters(
            *parameters.generation, std::string(what) + ": params.generation"));
    return {};
}

// The params object, or nothing when no parameter is set.
std::optional<Json> parameters_to_json(const HostParameters& parameters)
{
    if (!parameters.time_ns && !parameters.generation)
        return std::nullopt;
    Json object = Json::object();
    if (parameters.time_ns)
        object["time_ns"] = static_cast<uint64_t>(*parameters.time_ns);
    if (parameters.generation)
        object["generation"] = detail::generation_to_json(*parameters.generation);
    return object;
}

Result<ExecRequest> request_from_json(const Json& document)
{
    ExecRequest request;
    bool has_argv = false;
    for (const auto& [key, value] : document.items()) {
        if (key == "version")
            continue;
        if (key == "argv") {
            request.argv = TRY(string_array(value, "argv"));
            has_argv = true;
        } else if (key == "env") {
            request.environment = TRY(string_array(value, "env"));
        } else if (key == "cwd") {
            if (!value.is_string())
                return Error::invalid("exec request: cwd: not a string");
            request.working_directory = value.get_ref<const std::string&>();
        } else if (key == "params") {
            request.parameters = TRY(parameters_from_json(value, "exec request"));
        } else {
            return unknown_field("exec request", key);
        }
    }
    if (!has_argv)
        return Error::invalid("exec request: missing field argv");
    return request;
}

Result<AttachRequest> attach_from_json(const Json& document)
{
    AttachRequest request;
    bool has_id = false, has_stdout = false, has_stderr = false;
    for (const auto& [key, value] : document.items()) {
        if (key == "version")
            continue;
        if (key == "session_id") {
            if (!value.is_string())
                return Error::invalid("exec attach: session_id: not a string");
            request.session_id = value.get_ref<const std::string&>();
            has_id = true;
        } else if (key == "stdout_offset") {
            request.stdout_offset = TRY(unsigned_field(value, "exec attach: stdout_offset"));
            has_stdout = true;
        } else if (key == "stderr_offset") {
            request.stderr_offset = TRY(unsigned_field(value, "exec attach: stderr_offset"));
            has_stderr = true;
        } else if (key == "params") {
            request.parameters = TRY(parameters_from_json(value, "exec attach"));
        } else {
            return unknown_field("exec attach", key);
        }
    }
    if (!has_id)
        return Error::invalid("exec attach: missing field session_id");
    if (!has_stdout)
        return Error::invalid("exec attach: missing field stdout_offset");
    if (!has_stderr)
        return Error::invalid("exec attach: missing field stderr_offset");
    return request;
}

Result<std::vector<uint8_t>> encode_document(
    FrameType type, const Json& document, std::string_view what)
{
    // The validators admitted only valid UTF-8, so dump() cannot throw.
    std::string text = document.dump();
    if (text.size() > kMaxPayloadSize) {
        return Error::invalid(std::string(what) + ": " + std::to_string(text.size())
            + " bytes of json, limit is " + std::to_string(kMaxPayloadSize));
    }
    return encode_frame(
        type, std::span(reinterpret_cast<const uint8_t*>(text.data()), text.size()));
}

} // namespace

std::string frame_type_name(FrameType type)
{
    switch (type) {
    case FrameType::Request:
        return "request";
    case FrameType::Stdout:
        return "stdout";
    case FrameType::Stderr:
        return "stderr";
    case FrameType::Exit:
        return "exit";
    case FrameType::Error:
        return "error";
    case FrameType::Attach:
        return "attach";
    case FrameType::Started:
        return "started";
    case FrameType::Lost:
        return "lost";
    case FrameType::Ack:
        return "ack";
    }
    return "type " + std::to_string(static_cast<unsigned>(type));
}

void FrameDecoder::feed(std::span<const uint8_t> bytes)
{
    compact();
    m_buffer.insert(m_buffer.end(), bytes.begin(), bytes.end());
}

Result<void> FrameDecoder::check_header() const
{
    const uint8_t* header = m_buffer.data() + m_consumed;
    if (!is_known_type(header[0]))
        return Error::invalid("exec frame: unknown type " + std::to_string(header[0]));
    if (header[1] != 0 || header[2] != 0 || header[3] != 0)
        return Error::invalid("exec frame: reserved header bits set");
    uint32_t length = get_u32(header + 4);
    if (length > kMaxPayloadSize) {
        return Error::invalid("exec frame: payload of " + std::to_string(length)
            + " bytes, limit is " + std::to_string(kMaxPayloadSize));
    }
    return {};
}

Result<std::optional<Frame>> FrameDecoder::next()
{
    if (m_error)
        return *m_error;
    if (buffered() < kFrameHeaderSize)
        return std::optional<Frame>{};

    if (auto checked = check_header(); !checked) {
        m_error = checked.error();
        return *m_error;
    }
    const uint8_t* header = m_buffer.data() + m_consumed;
    size_t length = get_u32(header + 4);
    if (buffered() - kFrameHeaderSize < length)
        return std::optional<Frame>{};

    const uint8_t* payload = header + kFrameHeaderSize;
    Frame frame{static_cast<FrameType>(header[0]), {payload, payload + length}};
    m_consumed += kFrameHeaderSize + length;
    return std::optional<Frame>(std::move(frame));
}

// Drops consumed bytes so the buffer never holds more than the frame in progress.
void FrameDecoder::compact()
{
    m_buffer.erase(m_buffer.begin(), m_buffer.begin() + static_cast<ptrdiff_t>(m_consumed));
    m_consumed = 0;
}

std::vector<uint8_t> encode_frame(FrameType type, std::span<const uint8_t> payload)
{
    if (payload.size() > kMaxPayloadSize) {
        std::fprintf(
            stderr, "spore: exec frame payload of %zu bytes exceeds the limit\n", payload.size());
        std::abort();
    }
    std::vector<uint8_t> frame(kFrameHeaderSize + payload.size());
    frame[0] = static_cast<uint8_t>(type);
    put_u32(frame.data() + 4, static_cast<uint32_t>(payload.size()));
    std::copy(payload.begin(), payload.end(), frame.begin() + kFrameHeaderSize);
    return frame;
}

Result<void> validate_request(const ExecRequest& request)
{
    if (request.argv.empty())
        return Error::invalid("exec request: argv: empty");
    TRY(check_strings("argv", request.argv, kMaxArguments));
    if (request.argv[0].empty())
        return Error::invalid("exec request: argv: empty program name");

    TRY(check_strings("env", request.environment, kMaxEnvironment));
    for (const auto& entry : request.environment) {
        auto equals = entry.find('=');
        if (equals == std::string::npos || equals == 0) {
            return Error::invalid(
                "exec request: env: " + printable(entry, kMaxQuotedName) + ": not NAME=value");
        }
    }

    TRY(check_string("cwd", request.working_directory, kMaxWorkingDirectory));
    if (!request.working_directory.starts_with('/'))
        return Error::invalid("exec request: cwd: not an absolute path");
    return validate_parameters(request.parameters, "exec request");
}

Result<std::vector<uint8_t>> encode_request(const ExecRequest& request)
{
    TRY(validate_request(request));
    Json document = {
        {"version", kProtocolVersion},
        {"argv", request.argv},
        {"env", request.environment},
        {"cwd", request.working_directory},
    };
    if (auto parameters = parameters_to_json(request.parameters))
        document["params"] = std::move(*parameters);
    return encode_document(FrameType::Request, document, "exec request");
}

Result<ExecRequest> parse_request(std::span<const uint8_t> payload)
{
    Json document = TRY(parse_document(payload, "exec request"));
    ExecRequest request = TRY(request_from_json(document));
    TRY(validate_request(request));
    return request;
}

bool is_session_id(std::string_view text)
{
    return text.size() == kSessionIdLength && std::all_of(text.begin(), text.end(), [](char digit) {
        return (digit >= '0' && digit <= '9') || (digit >= 'a' && digit <= 'f');
    });
}

Result<void> validate_attach(const AttachRequest& request)
{
    if (!is_session_id(request.session_id)) {
        return Error::invalid("exec attach: session_id: not " + std::to_string(kSessionIdLength)
            + " lower-case hex digits");
    }
    return validate_parameters(request.parameters, "exec attach");
}

Result<std::vector<uint8_t>> encode_attach(const AttachRequest& request)
{
    TRY(validate_attach(request));
    Json document = {
        {"version", kProtocolVersion},
        {"session_id", request.session_id},
        {"stdout_offset", request.stdout_offset},
        {"stderr_offset", request.stderr_offset},
    };
    if (auto parameters = parameters_to_json(request.parameters))
        document["params"] = std::move(*parameters);
    return encode_document(FrameType::Attach, document, "exec attach");
}

Result<AttachRequest> parse_attach(std::span<const uint8_t> payload)
{
    Json document = TRY(parse_document(payload, "exec attach"));
    AttachRequest request = TRY(attach_from_json(document));
    TRY(validate_attach(request));
    return request;
}

std::vector<uint8_t> encode_started(std::string_view session_id)
{
    if (!is_session_id(session_id)) {
        std::fprintf(stderr, "spore: malformed exec session id\n");
        std::abort();
    }
    return encode_frame(FrameType::Started,
        std::span(reinterpret_cast<const uint8_t*>(session_id.data()), session_id.size()));
}

Result<std::string> parse_started(std::span<const uint8_t> payload)
{
    std::string_view text(reinterpret_cast<const char*>(payload.data()), payload.size());
    if (!is_session_id(text))
        return Error::invalid("exec frame: started payload is not a session id");
    return std::string(text);
}

std::vector<uint8_t> encode_lost(LostOutput lost)
{
    if (lost.stream != FrameType::Stdout && lost.stream != FrameType::Stderr) {
        std::fprintf(stderr, "spore: exec lost frame for a non-output stream\n");
        std::abort();
    }
    uint8_t payload[kLostPayloadSize] = {static_cast<uint8_t>(lost.stream)};
    put_u64(payload + 8, lost.offset);
    return encode_frame(FrameType::Lost, payload);
}

Result<LostOutput> parse_lost(std::span<const uint8_t> payload)
{
    if (payload.size() != kLostPayloadSize) {
        return Error::invalid("exec frame: lost payload of " + std::to_string(payload.size())
            + " bytes, not " + std::to_string(kLostPayloadSize));
    }
    auto stream = static_cast<FrameType>(payload[0]);
    if (stream != FrameType::Stdout && stream != FrameType::Stderr)
        return Error::invalid("exec frame: lost frame names stream " + std::to_string(payload[0]));
    if (std::any_of(payload.begin() + 1, payload.begin() + 8, [](uint8_t byte) { return byte; }))
        return Error::invalid("exec frame: lost frame has reserved bytes set");
    return LostOutput{stream, get_u64(payload.data() + 8)};
}

std::vector<uint8_t> encode_output(FrameType stream, uint64_t offset, std::span<const uint8_t> data)
{
    std::vector<uint8_t> payload(kOutputOffsetSize + data.size());
    put_u64(payload.data(), offset);
    std::copy(data.begin(), data.end(), payload.begin() + kOutputOffsetSize);
    return encode_frame(stream, payload);
}

Result<OutputChunk> parse_output(std::span<const uint8_t> payload)
{
    if (payload.size() <= kOutputOffsetSize)
        return Error::invalid("exec frame: output frame without data");
    OutputChunk chunk{get_u64(payload.data()), payload.subspan(kOutputOffsetSize)};
    if (chunk.offset > UINT64_MAX - chunk.data.size())
        return Error::invalid("exec frame: output offset wraps");
    return chunk;
}

std::vector<uint8_t> encode_exit(ExitStatus status)
{
    uint8_t payload[8];
    put_u32(payload, status.code);
    put_u32(payload + 4, status.signal);
    return encode_frame(FrameType::Exit, payload);
}

Result<ExitStatus> parse_exit(std::span<const uint8_t> payload)
{
    if (payload.size() != 8) {
        return Error::invalid(
            "exec frame: exit payload of " + std::to_string(payload.size()) + " bytes, not 8");
    }
    ExitStatus status{get_u32(payload.data()), get_u32(payload.data() + 4)};
    bool consistent = status.signal == 0
        ? status.code <= 255
        : status.signal <= 64 && status.code == 128 + status.signal;
    if (!consistent) {
        return Error::invalid("exec frame: exit code " + std::to_string(status.code)
            + " does not match signal " + std::to_string(status.signal));
    }
    return status;
}

std::vector<uint8_t> encode_error(std::string_view message)
{
    if (message.empty())
        message = "unspecified error";
    message = message.substr(0, kMaxErrorMessage);
    return encode_frame(FrameType::Error,
        std::span(reinterpret_cast<const uint8_t*>(message.data()), message.size()));
}

Result<std::string> parse_error(std::span<const uint8_t> payload)
{
    if (payload.empty() || payload.size() > kMaxErrorMessage) {
        return Error::invalid("exec frame: error message of " + std::to_string(payload.size())
            + " bytes, must be 1.." + std::to_string(kMaxErrorMessage));
    }
    std::string_view text(reinterpret_cast<const char*>(payload.data()), payload.size());
    return printable(text, kMaxErrorMessage);
}

std::vector<uint8_t> encode_ack()
{
    return encode_frame(FrameType::Ack, {});
}

} // namespace spore::exec
