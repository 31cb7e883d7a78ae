#include "exec/protocol.h"

#include <gtest/gtest.h>

#include <string>

namespace spore::exec {
namespace {

std::span<const uint8_t> bytes_of(std::string_view text)
{
    return {reinterpret_cast<const uint8_t*>(text.data()), text.size()};
}

std::vector<uint8_t> header(uint8_t type, uint32_t length, uint8_t flags = 0)
{
    return {type, flags, 0, 0, static_cast<uint8_t>(length), static_cast<uint8_t>(length >> 8),
        static_cast<uint8_t>(length >> 16), static_cast<uint8_t>(length >> 24)};
}

// Feeds bytes and returns the single frame they hold.
Frame decode_one(std::span<const uint8_t> bytes)
{
    FrameDecoder decoder;
    decoder.feed(bytes);
    auto frame = decoder.next();
    EXPECT_TRUE(frame.has_value() && frame->has_value());
    EXPECT_EQ(decoder.buffered(), 0u);
    return std::move(**frame);
}

Result<ExecRequest> parse_text(std::string_view text)
{
    return parse_request(bytes_of(text));
}

ExecRequest sample_request()
{
    return {{"sh", "-c", "echo hi"}, {"FOO=bar", "EMPTY="}, "/tmp"};
}

TEST(ExecFrame, HeaderIsTypeFlagsReservedThenLittleEndianLength)
{
    std::vector<uint8_t> payload(0x010203, 7);
    auto frame = encode_frame(FrameType::Stderr, payload);
    ASSERT_EQ(frame.size(), kFrameHeaderSize + payload.size());
    EXPECT_EQ(std::vector<uint8_t>(frame.begin(), frame.begin() + 8), header(3, 0x010203));
}

TEST(ExecFrame, FramesFedOneByteAtATimeComeOutWhole)
{
    auto first = encode_output(FrameType::Stdout, 0, bytes_of("hello"));
    auto second = encode_exit({0, 0});
    std::vector<uint8_t> stream(first);
    stream.insert(stream.end(), second.begin(), second.end());

    FrameDecoder decoder;
    std::vector<Frame> frames;
    for (uint8_t byte : stream) {
        decoder.feed(std::span(&byte, 1));
        auto frame = decoder.next();
        ASSERT_TRUE(frame.has_value());
        if (*frame)
            frames.push_back(std::move(**frame));
    }
    ASSERT_EQ(frames.size(), 2u);
    EXPECT_EQ(frames[0].type, FrameType::Stdout);
    EXPECT_EQ(frames[1].type, FrameType::Exit);
}

TEST(ExecFrame, TruncatedFrameYieldsNothingYet)
{
    auto frame = encode_output(FrameType::Stdout, 0, bytes_of("hello"));
    FrameDecoder decoder;
    decoder.feed(std::span(frame).first(frame.size() - 1));
    auto next = decoder.next();
    ASSERT_TRUE(next.has_value());
    EXPECT_FALSE(next->has_value());
    EXPECT_EQ(decoder.buffered(), frame.size() - 1);
}

TEST(ExecFrame, OversizedLengthIsRefusedBeforeThePayloadArrives)
{
    FrameDecoder decoder;
    decoder.feed(header(2, kMaxPayloadSize + 1));
    auto next = decoder.next();
    ASSERT_FALSE(next.has_value());
    EXPECT_EQ(next.error().code(), ErrorCode::InvalidInput);
}

TEST(ExecFrame, MaximumLengthIsAccepted)
{
    std::vector<uint8_t> payload(kMaxPayloadSize, 1);
    auto frame = decode_one(encode_frame(FrameType::Stdout, payload));
    EXPECT_EQ(frame.payload.size(), kMaxPayloadSize);
}

TEST(ExecFrame, UnknownTypesAreRefused)
{
    for (uint8_t type : {0, 10, 255}) {
        FrameDecoder decoder;
        decoder.feed(header(type, 0));
        EXPECT_FALSE(decoder.next().has_value()) << "type " << int(type);
    }
}

TEST(ExecFrame, ReservedBitsAreRefused)
{
    FrameDecoder decoder;
    decoder.feed(header(4, 8, 0x80));
    EXPECT_FALSE(decoder.next().has_value());
}

TEST(ExecFrame, DecoderStaysFailedAfterAnError)
{
    FrameDecoder decoder;
    decoder.feed(header(10, 0));
    EXPECT_FALSE(decoder.next().has_value());
    decoder.feed(encode_exit({0, 0}));
    EXPECT_FALSE(decoder.next().has_value());
}

TEST(ExecFrame, EmptyPayloadIsAFrame)
{
    auto frame = decode_one(header(5, 0));
    EXPECT_EQ(frame.type, FrameType::Error);
    EXPECT_TRUE(frame.payload.empty());
}

TEST(ExecRequest, RoundTrips)
{
    auto encoded = encode_request(sample_request());
    ASSERT_TRUE(encoded.has_value());
    auto frame = decode_one(*encoded);
    EXPECT_EQ(frame.type, FrameType::Request);
    auto parsed = parse_request(frame.payload);
    ASSERT_TRUE(parsed.has_value()) << parsed.error().message();
    EXPECT_EQ(*parsed, sample_request());
}

TEST(ExecRequest, EnvAndCwdAreOptional)
{
    auto parsed = parse_text(R"({"version":2,"argv":["true"]})");
    ASSERT_TRUE(parsed.has_value());
    EXPECT_TRUE(parsed->environment.empty());
    EXPECT_EQ(parsed->working_directory, "/");
}

TEST(ExecRequest, MalformedJsonIsRefused)
{
    EXPECT_FALSE(parse_text(R"({"version":2,"argv":["true"])").has_value());
    EXPECT_FALSE(parse_text("").has_value());
    EXPECT_FALSE(parse_text("\xff").has_value());
    EXPECT_FALSE(parse_text(R"({"version":2,"argv":["\xc0\xaf"]})").has_value());
}

TEST(ExecRequest, DocumentMustBeAnObject)
{
    EXPECT_FALSE(parse_text(R"(["true"])").has_value());
    EXPECT_FALSE(parse_text("1").has_value());
}

TEST(ExecRequest, UnknownFieldIsRefused)
{
    auto parsed = parse_text(R"({"version":2,"argv":["true"],"tty":true})");
    ASSERT_FALSE(parsed.has_value());
    EXPECT_EQ(parsed.error().message(), "exec request: unknown field tty");
}

TEST(ExecRequest, DuplicateFieldIsRefused)
{
    EXPECT_FALSE(parse_text(R"({"version":2,"argv":["a"],"argv":["b"]})").has_value());
}

TEST(ExecRequest, WrongTypesAreRefused)
{
    EXPECT_FALSE(parse_text(R"({"version":2,"argv":"true"})").has_value());
    EXPECT_FALSE(parse_text(R"({"version":2,"argv":["true",1]})").has_value());
    EXPECT_FALSE(parse_text(R"({"version":2,"argv":["true"],"env":{"A":"1"}})").has_value());
    EXPECT_FALSE(parse_text(R"({"version":2,"argv":["true"],"cwd":["/"]})").has_value());
    EXPECT_FALSE(parse_text(R"({"version":2,"argv":["true"],"cwd":null})").has_value());
}

TEST(ExecRequest, NestedArraysAreRefusedNotDropped)
{
    EXPECT_FALSE(parse_text(R"({"version":2,"argv":["true",["x"]]})").has_value());
    EXPECT_FALSE(parse_text(R"({"version":2,"argv":["true"],"env":[{}]})").has_value());
}

TEST(ExecRequest, DeepNestingIsRefusedWithoutExhaustingMemory)
{
    std::string text = R"({"version":2,"argv":)" + std::string(500000, '[');
    EXPECT_FALSE(parse_text(text).has_value());
}

TEST(ExecRequest, VersionOneIsNotSupported)
{
    auto parsed = parse_text(R"({"version":1,"argv":["true"]})");
    ASSERT_FALSE(parsed.has_value());
    EXPECT_EQ(parsed.error().code(), ErrorCode::NotSupported);
    EXPECT_EQ(parsed.error().message(),
        "exec request: unsupported protocol version 1 (this agent speaks 2)");
}

TEST(ExecRequest, NewerVersionIsRefusedForItsVersionNotItsShape)
{
    auto parsed = parse_text(
        R"({"version":3,"argv":["true"],"future":{"a":{"b":[1]}},"params":{"seed":"x"}})");
    ASSERT_FALSE(parsed.has_value());
    EXPECT_EQ(parsed.error().code(), ErrorCode::NotSupported);
    EXPECT_EQ(parsed.error().message(),
        "exec request: unsupported protocol version 3 (this agent speaks 2)");
}

TEST(ExecRequest, TimeParameterRoundTrips)
{
    ExecRequest request{{"true"}, {}, "/", {1'754'000'000'123'456'789}};
    auto encoded = encode_request(request);
    ASSERT_TRUE(encoded.has_value());
    auto frame = decode_one(*encoded);
    std::string json(frame.payload.begin(), frame.payload.end());
    EXPECT_NE(json.find(R"("params":{"time_ns":1754000000123456789})"), std::string::npos);
    auto parsed = parse_request(frame.payload);
    ASSERT_TRUE(parsed.has_value()) << parsed.error().message();
    EXPECT_EQ(*parsed, request);
}

TEST(ExecRequest, ParamsAreOptionalAndMayBeEmpty)
{
    auto parsed = parse_text(R"({"version":2,"argv":["true"],"params":{}})");
    ASSERT_TRUE(parsed.has_value());
    EXPECT_FALSE(parsed->parameters.time_ns.has_value());
    auto encoded = encode_request({{"true"}});
    ASSERT_TRUE(encoded.has_value());
    auto payload = decode_one(*encoded).payload;
    EXPECT_EQ(std::string(payload.begin(), payload.end()).find("params"), std::string::npos);
}

TEST(ExecRequest, TimeParameterMustBeANonNegativeInt64)
{
    EXPECT_TRUE(parse_text(R"({"version":2,"argv":["true"],"params":{"time_ns":0}})"));
    EXPECT_TRUE(
        parse_text(R"({"version":2,"argv":["true"],"params":{"time_ns":9223372036854775807}})"));
    for (std::string_view bad :
        {"-1", "1.5e18", "\"1\"", "null", "9223372036854775808", "18446744073709551616", "[1]"}) {
        std::string text
            = R"({"version":2,"argv":["true"],"params":{"time_ns":)" + std::string(bad) + "}}";
        EXPECT_FALSE(parse_text(text).has_value()) << bad;
    }
    EXPECT_FALSE(encode_request({{"true"}, {}, "/", {-1}}).has_value());
}

TEST(ExecRequest, UnknownOrDuplicateParameterIsRefused)
{
    auto parsed = parse_text(R"({"version":2,"argv":["true"],"params":{"seed":1}})");
    ASSERT_FALSE(parsed.has_value());
    EXPECT_EQ(parsed.error().message(), "exec request: unknown field params.seed");
    EXPECT_FALSE(parse_text(R"({"version":2,"argv":["true"],"params":{"time_ns":1,"time_ns":2}})"));
    EXPECT_FALSE(parse_text(R"({"version":2,"argv":["true"],"params":[]})"));
    EXPECT_FALSE(parse_text(R"({"version":2,"argv":["true"],"params":{},"params":{}})"));
}

GenerationParameters sample_generation()
{
    return {3, 2, 1, 2, "0123456789abcdef0123456789abcdef", "fedcba9876543210fedcba9876543210",
        "spore-fedcba987654", "0a1b2c3d4e5f", std::string(64, 'e'), 1'754'000'000'000'000'000};
}

TEST(ExecRequest, GenerationParameterRoundTrips)
{
    ExecRequest request{{"true"}, {}, "/", {1'754'000'000'123'456'789, sample_generation()}};
    auto encoded = encode_request(request);
    ASSERT_TRUE(encoded.has_value()) << encoded.error().message();
    auto frame = decode_one(*encoded);
    std::string json(frame.payload.begin(), frame.payload.end());
    EXPECT_NE(
        json.find(R"("params":{"generation":{"batch_id":"0123456789abcdef0123456789abcdef",)"),
        std::string::npos)
        << json;
    auto parsed = parse_request(frame.payload);
    ASSERT_TRUE(parsed.has_value()) << parsed.error().message();
    EXPECT_EQ(*parsed, request);
    ASSERT_TRUE(parsed->parameters.generation.has_value());
    EXPECT_EQ(*parsed->parameters.generation, sample_generation());
}

TEST(ExecRequest, GenerationParameterIsParsedAsTheDevicePageIs)
{
    std::string generation = serialize_generation_parameters(sample_generation());
    auto parsed
        = parse_text(R"({"version":2,"argv":["true"],"params":{"generation":)" + generation + "}}");
    ASSERT_TRUE(parsed.has_value()) << parsed.error().message();
    EXPECT_EQ(parsed->parameters.generation, sample_generation());
    EXPECT_FALSE(parsed->parameters.time_ns.has_value());
}

TEST(ExecRequest, MalformedGenerationParameterIsRefused)
{
    auto request_with = [](std::string_view generation) {
        return parse_text(R"({"version":2,"argv":["true"],"params":{"generation":)"
            + std::string(generation) + "}}");
    };
    auto not_object = request_with("1");
    ASSERT_FALSE(not_object.has_value());
    EXPECT_EQ(not_object.error().message(), "exec request: params.generation: not an object");

    std::string text = serialize_generation_parameters(sample_generation());
    std::string bad_host = text;
    bad_host.replace(bad_host.find("spore-fedcba987654"), 18, "-bad");
    auto refused = request_with(bad_host);
    ASSERT_FALSE(refused.has_value());
    EXPECT_EQ(refused.error().message(),
        "exec request: params.generation: hostname: -bad: not a hostname of at most 64 bytes");

    auto missing = request_with(R"({"generation":1})");
    ASSERT_FALSE(missing.has_value());
    EXPECT_EQ(missing.error().message(),
        "exec request: params.generation: missing field parent_generation");

    std::string extra = text;
    extra.insert(1, R"("zone":"a",)");
    EXPECT_FALSE(request_with(extra).has_value());
    std::string twice = text;
    twice.insert(1, R"("generation":9,)");
    auto duplicate = request_with(twice);
    ASSERT_FALSE(duplicate.has_value());
    EXPECT_EQ(duplicate.error().message(), "exec request: duplicate field generation");

    ExecRequest invalid{{"true"}};
    invalid.parameters.generation = sample_generation();
    invalid.parameters.generation->entropy = "00";
    auto encoded = encode_request(invalid);
    ASSERT_FALSE(encoded.has_value());
    EXPECT_EQ(encoded.error().message(),
        "exec request: params.generation: entropy: not 64 lower-case hex digits");
}

TEST(ExecRequest, VersionMustBeThePlainInteger)
{
    EXPECT_FALSE(parse_text(R"({"argv":["true"]})").has_value());
    EXPECT_FALSE(parse_text(R"({"version":"1","argv":["true"]})").has_value());
    EXPECT_FALSE(parse_text(R"({"version":2.0,"argv":["true"]})").has_value());
    EXPECT_FALSE(parse_text(R"({"version":-1,"argv":["true"]})").has_value());
}

TEST(ExecRequest, ArgvMustNameAProgram)
{
    EXPECT_FALSE(parse_text(R"({"version":2})").has_value());
    EXPECT_FALSE(parse_text(R"({"version":2,"argv":[]})").has_value());
    EXPECT_FALSE(parse_text(R"({"version":2,"argv":[""]})").has_value());
}

TEST(ExecRequest, HugeArgvIsRefusedOnBothSides)
{
    ExecRequest request{std::vector<std::string>(kMaxArguments + 1, "x")};
    EXPECT_FALSE(encode_request(request).has_value());

    std::string text = R"({"version":2,"argv":["x")";
    for (size_t index = 0; index < kMaxArguments; index++)
        text += R"(,"x")";
    EXPECT_FALSE(parse_text(text + "]}").has_value());
}

TEST(ExecRequest, MaximumArgumentCountIsAccepted)
{
    ExecRequest request{std::vector<std::string>(kMaxArguments, "x")};
    auto encoded = encode_request(request);
    ASSERT_TRUE(encoded.has_value());
    EXPECT_TRUE(parse_request(decode_one(*encoded).payload).has_value());
}

TEST(ExecRequest, OverlongStringIsRefused)
{
    ExecRequest request{{"echo", std::string(kMaxStringLength + 1, 'a')}};
    EXPECT_FALSE(encode_request(request).has_value());
    request.argv[1].pop_back();
    EXPECT_TRUE(encode_request(request).has_value());
}

TEST(ExecRequest, EncodingOverThePayloadLimitIsRefused)
{
    ExecRequest request{std::vector<std::string>(9, std::string(kMaxStringLength, 'a'))};
    auto encoded = encode_request(request);
    ASSERT_FALSE(encoded.has_value());
    EXPECT_EQ(encoded.error().code(), ErrorCode::InvalidInput);
}

TEST(ExecRequest, NulBytesAreRefused)
{
    EXPECT_FALSE(parse_text(R"({"version":2,"argv":["a\u0000b"]})").has_value());
    EXPECT_FALSE(encode_request({{std::string("a\0b", 3)}}).has_value());
}

TEST(ExecRequest, InvalidUtf8IsRefusedByTheEncoder)
{
    for (std::string bad : {"\xff", "\xc0\x80", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xe2\x82"})
        EXPECT_FALSE(encode_request({{"echo", bad}}).has_value());
    EXPECT_TRUE(encode_request({{"echo", "\xe2\x82\xac \xf0\x9f\x98\x80"}}).has_value());
}

TEST(ExecRequest, EnvEntriesNeedANameAndEquals)
{
    EXPECT_FALSE(encode_request({{"true"}, {"NOEQUALS"}}).has_value());
    EXPECT_FALSE(encode_request({{"true"}, {"=value"}}).has_value());
    EXPECT_TRUE(encode_request({{"true"}, {"A=b=c"}}).has_value());
}

TEST(ExecRequest, CwdMustBeAbsolute)
{
    EXPECT_FALSE(encode_request({{"true"}, {}, "tmp"}).has_value());
    EXPECT_FALSE(encode_request({{"true"}, {}, ""}).has_value());
    EXPECT_FALSE(
        encode_request({{"true"}, {}, "/" + std::string(kMaxWorkingDirectory, 'a')}).has_value());
}

const std::string kSessionId = "0123456789abcdef0123456789abcdef";

Result<AttachRequest> parse_attach_text(std::string_view text)
{
    return parse_attach(bytes_of(text));
}

TEST(ExecAttach, RoundTrips)
{
    AttachRequest request{kSessionId, 1ull << 40, 7, {42}};
    auto encoded = encode_attach(request);
    ASSERT_TRUE(encoded.has_value());
    auto frame = decode_one(*encoded);
    EXPECT_EQ(frame.type, FrameType::Attach);
    auto parsed = parse_attach(frame.payload);
    ASSERT_TRUE(parsed.has_value()) << parsed.error().message();
    EXPECT_EQ(*parsed, request);
}

TEST(ExecAttach, GenerationParameterRoundTrips)
{
    AttachRequest request{kSessionId, 5, 6, {42, sample_generation()}};
    auto encoded = encode_attach(request);
    ASSERT_TRUE(encoded.has_value()) << encoded.error().message();
    auto parsed = parse_attach(decode_one(*encoded).payload);
    ASSERT_TRUE(parsed.has_value()) << parsed.error().message();
    EXPECT_EQ(*parsed, request);

    request.parameters.generation->generation = 0;
    auto refused = encode_attach(request);
    ASSERT_FALSE(refused.has_value());
    EXPECT_EQ(refused.error().message(),
        "exec attach: params.generation: generation: 0, must be at least 1");
}

TEST(ExecAttach, EveryFieldButParamsIsRequired)
{
    std::string id = R"("session_id":")" + kSessionId + R"(")";
    EXPECT_TRUE(
        parse_attach_text(R"({"version":2,)" + id + R"(,"stdout_offset":0,"stderr_offset":0})"));
    EXPECT_FALSE(parse_attach_text(R"({"version":2,"stdout_offset":0,"stderr_offset":0})"));
    EXPECT_FALSE(parse_attach_text(R"({"version":2,)" + id + R"(,"stderr_offset":0})"));
    EXPECT_FALSE(parse_attach_text(R"({"version":2,)" + id + R"(,"stdout_offset":0})"));
}

TEST(ExecAttach, SessionIdMustBe32LowerCaseHexDigits)
{
    for (std::string bad : {std::string(31, 'a'), std::string(33, 'a'), std::string(32, 'A'),
             std::string(32, 'g'), std::string()}) {
        EXPECT_FALSE(encode_attach({bad}).has_value()) << bad;
        std::string text
            = R"({"version":2,"session_id":")" + bad + R"(","stdout_offset":0,"stderr_offset":0})";
        EXPECT_FALSE(parse_attach_text(text).has_value()) << bad;
    }
}

TEST(ExecAttach, OffsetsMustBeUnsignedIntegers)
{
    std::string head = R"({"version":2,"session_id":")" + kSessionId + R"(","stdout_offset":)";
    EXPECT_TRUE(parse_attach_text(head + R"(18446744073709551615,"stderr_offset":0})"));
    EXPECT_FALSE(parse_attach_text(head + R"(-1,"stderr_offset":0})"));
    EXPECT_FALSE(parse_attach_text(head + R"(1.0,"stderr_offset":0})"));
    EXPECT_FALSE(parse_attach_text(head + R"("1","stderr_offset":0})"));
}

TEST(ExecAttach, UnknownFieldsAndVersionOneAreRefused)
{
    std::string body
        = R"("session_id":")" + kSessionId + R"(","stdout_offset":0,"stderr_offset":0)";
    auto unknown = parse_attach_text(R"({"version":2,)" + body + R"(,"argv":["x"]})");
    ASSERT_FALSE(unknown.has_value());
    EXPECT_EQ(unknown.error().message(), "exec attach: unknown field argv");

    auto old = parse_attach_text(R"({"version":1,)" + body + "}");
    ASSERT_FALSE(old.has_value());
    EXPECT_EQ(
        old.error().message(), "exec attach: unsupported protocol version 1 (this agent speaks 2)");
}

TEST(ExecStarted, RoundTripsAndRefusesMalformedIds)
{
    auto frame = decode_one(encode_started(kSessionId));
    EXPECT_EQ(frame.type, FrameType::Started);
    auto parsed = parse_started(frame.payload);
    ASSERT_TRUE(parsed.has_value());
    EXPECT_EQ(*parsed, kSessionId);
    EXPECT_FALSE(parse_started(bytes_of(kSessionId + "0")).has_value());
    EXPECT_FALSE(parse_started(bytes_of("0123456789ABCDEF0123456789ABCDEF")).has_value());
    EXPECT_FALSE(parse_started({}).has_value());
}

TEST(ExecLost, RoundTrips)
{
    for (LostOutput lost :
        {LostOutput{FrameType::Stdout, 0}, LostOutput{FrameType::Stderr, ~0ull}}) {
        auto frame = decode_one(encode_lost(lost));
        EXPECT_EQ(frame.type, FrameType::Lost);
        auto parsed = parse_lost(frame.payload);
        ASSERT_TRUE(parsed.has_value());
        EXPECT_EQ(*parsed, lost);
    }
}

TEST(ExecLost, MalformedPayloadIsRefused)
{
    auto payload = decode_one(encode_lost({FrameType::Stdout, 5})).payload;
    EXPECT_FALSE(parse_lost(std::span(payload).first(15)).has_value());
    auto wrong_stream = payload;
    wrong_stream[0] = static_cast<uint8_t>(FrameType::Exit);
    EXPECT_FALSE(parse_lost(wrong_stream).has_value());
    auto reserved = payload;
    reserved[3] = 1;
    EXPECT_FALSE(parse_lost(reserved).has_value());
}

TEST(ExecAck, IsAnEmptyFrame)
{
    auto frame = decode_one(encode_ack());
    EXPECT_EQ(frame.type, FrameType::Ack);
    EXPECT_TRUE(frame.payload.empty());
}

TEST(ExecOutput, RoundTrips)
{
    auto frame = decode_one(encode_output(FrameType::Stderr, 1ull << 40, bytes_of("data")));
    EXPECT_EQ(frame.type, FrameType::Stderr);
    auto chunk = parse_output(frame.payload);
    ASSERT_TRUE(chunk.has_value());
    EXPECT_EQ(chunk->offset, 1ull << 40);
    EXPECT_EQ(std::string(chunk->data.begin(), chunk->data.end()), "data");
}

TEST(ExecOutput, FrameWithoutDataIsRefused)
{
    std::vector<uint8_t> offset_only(kOutputOffsetSize, 0);
    EXPECT_FALSE(parse_output(offset_only).has_value());
    EXPECT_FALSE(parse_output({}).has_value());
}

TEST(ExecOutput, OffsetThatWrapsIsRefused)
{
    auto frame = decode_one(encode_output(FrameType::Stdout, UINT64_MAX - 1, bytes_of("ab")));
    EXPECT_FALSE(parse_output(frame.payload).has_value());
}

TEST(ExecExit, NormalAndSignalledStatusesRoundTrip)
{
    for (ExitStatus status : {ExitStatus{0, 0}, ExitStatus{255, 0}, ExitStatus{137, 9}}) {
        auto parsed = parse_exit(decode_one(encode_exit(status)).payload);
        ASSERT_TRUE(parsed.has_value());
        EXPECT_EQ(*parsed, status);
    }
}

TEST(ExecExit, InconsistentStatusIsRefused)
{
    for (ExitStatus status : {ExitStatus{256, 0}, ExitStatus{1, 9}, ExitStatus{228, 100}})
        EXPECT_FALSE(parse_exit(decode_one(encode_exit(status)).payload).has_value());
}

TEST(ExecExit, PayloadMustBeEightBytes)
{
    std::vector<uint8_t> payload(9, 0);
    EXPECT_FALSE(parse_exit(payload).has_value());
    EXPECT_FALSE(parse_exit(std::span(payload).first(7)).has_value());
}

TEST(ExecError, MessageIsMadePrintable)
{
    auto frame = decode_one(encode_error("bad\x1b[2Jthing\n"));
    auto message = parse_error(frame.payload);
    ASSERT_TRUE(message.has_value());
    EXPECT_EQ(*message, "bad?[2Jthing?");
}

TEST(ExecError, EmptyOrOverlongMessageIsRefused)
{
    EXPECT_FALSE(parse_error({}).has_value());
    std::vector<uint8_t> overlong(kMaxErrorMessage + 1, 'a');
    EXPECT_FALSE(parse_error(overlong).has_value());
}

TEST(ExecError, EncoderCutsLongMessages)
{
    auto frame = decode_one(encode_error(std::string(kMaxErrorMessage * 2, 'a')));
    EXPECT_EQ(frame.payload.size(), kMaxErrorMessage);
    EXPECT_TRUE(parse_error(frame.payload).has_value());
}

} // namespace
} // namespace spore::exec
