// Fuzzes the exec protocol's frame decoder and payload parsers, the code
// that reads whatever the other side of a vsock connection sends, and the
// generation parameter parser, which also reads the generation device's
// page. The first input byte sets how the rest is cut into feeds; the rest
// is both a frame stream and, on its own, a REQUEST, an ATTACH, a STARTED
// and a LOST payload and a parameter document. Whatever parses must encode
// back to something that parses to the same value.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>

#include "exec/protocol.h"

namespace {

using namespace spore::exec;

void check(bool condition, const char* what)
{
    if (!condition) {
        std::fprintf(stderr, "exec_frame_fuzz: %s\n", what);
        std::abort();
    }
}

std::span<const uint8_t> payload_of(const std::vector<uint8_t>& frame)
{
    return std::span(frame).subspan(kFrameHeaderSize);
}

bool same_bytes(std::span<const uint8_t> left, std::span<const uint8_t> right)
{
    return std::equal(left.begin(), left.end(), right.begin(), right.end());
}

void check_parameters(const GenerationParameters& parameters)
{
    check(validate_generation_parameters(parameters).has_value(),
        "parsed parameters do not validate");
    auto text = serialize_generation_parameters(parameters);
    check(text.size() <= kMaxGenerationDocument, "serialized parameters exceed the page");
    auto reparsed = parse_generation_parameters(
        std::span(reinterpret_cast<const uint8_t*>(text.data()), text.size()));
    check(reparsed.has_value() && *reparsed == parameters, "parameters do not round-trip");
}

void check_request(std::span<const uint8_t> payload)
{
    auto request = parse_request(payload);
    if (!request)
        return;
    auto encoded = encode_request(*request);
    check(encoded.has_value(), "a parsed request does not encode");
    auto reparsed = parse_request(payload_of(*encoded));
    check(reparsed.has_value() && *reparsed == *request, "request does not round-trip");
    if (request->parameters.generation)
        check_parameters(*request->parameters.generation);
}

void check_attach(std::span<const uint8_t> payload)
{
    auto request = parse_attach(payload);
    if (!request)
        return;
    check(is_session_id(request->session_id), "attach with a malformed session id");
    auto encoded = encode_attach(*request);
    check(encoded.has_value(), "a parsed attach does not encode");
    auto reparsed = parse_attach(payload_of(*encoded));
    check(reparsed.has_value() && *reparsed == *request, "attach does not round-trip");
    if (request->parameters.generation)
        check_parameters(*request->parameters.generation);
}

// Parameters parsed anywhere must satisfy the validator, serialize back to a
// document within the page, and survive a round trip.
void check_generation(std::span<const uint8_t> document)
{
    if (auto parameters = parse_generation_parameters(document))
        check_parameters(*parameters);
}

void check_started(std::span<const uint8_t> payload)
{
    if (auto session_id = parse_started(payload)) {
        auto encoded = encode_started(*session_id);
        check(same_bytes(payload_of(encoded), payload), "started does not round-trip");
    }
}

void check_lost(std::span<const uint8_t> payload)
{
    if (auto lost = parse_lost(payload)) {
        auto encoded = encode_lost(*lost);
        check(same_bytes(payload_of(encoded), payload), "lost does not round-trip");
    }
}

void check_frame(const Frame& frame)
{
    switch (frame.type) {
    case FrameType::Request:
        check_request(frame.payload);
        break;
    case FrameType::Stdout:
    case FrameType::Stderr:
        if (auto chunk = parse_output(frame.payload)) {
            auto encoded = encode_output(frame.type, chunk->offset, chunk->data);
            check(same_bytes(payload_of(encoded), frame.payload), "output does not round-trip");
        }
        break;
    case FrameType::Exit:
        if (auto status = parse_exit(frame.payload)) {
            auto encoded = encode_exit(*status);
            check(same_bytes(payload_of(encoded), frame.payload), "exit does not round-trip");
        }
        break;
    case FrameType::Error:
        if (auto message = parse_error(frame.payload))
            check(message->size() == frame.payload.size(), "error message changed length");
        break;
    case FrameType::Attach:
        check_attach(frame.payload);
        break;
    case FrameType::Started:
        check_started(frame.payload);
        break;
    case FrameType::Lost:
        check_lost(frame.payload);
        break;
    case FrameType::Ack:
        if (frame.payload.empty())
            check(same_bytes(payload_of(encode_ack()), frame.payload), "ack does not round-trip");
        break;
    }
}

void decode_stream(std::span<const uint8_t> stream, size_t feed_size)
{
    FrameDecoder decoder;
    while (!stream.empty()) {
        auto feed = stream.first(std::min(feed_size, stream.size()));
        stream = stream.subspan(feed.size());
        decoder.feed(feed);
        while (true) {
            auto frame = decoder.next();
            if (!frame)
                return;
            if (!*frame)
                break;
            check((*frame)->payload.size() <= kMaxPayloadSize, "oversized frame decoded");
            check_frame(**frame);
        }
        check(decoder.buffered() < kFrameHeaderSize + kMaxPayloadSize, "decoder holds too much");
    }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    if (size == 0)
        return 0;
    size_t feed_size = data[0] + 1u;
    std::span<const uint8_t> rest(data + 1, size - 1);
    decode_stream(rest, feed_size);
    check_request(rest);
    check_attach(rest);
    check_started(rest);
    check_lost(rest);
    check_generation(rest);
    return 0;
}
