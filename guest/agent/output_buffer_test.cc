#include "guest/agent/output_buffer.h"

#include <gtest/gtest.h>

#include <string>

namespace spore::agent {
namespace {

std::span<const uint8_t> bytes_of(std::string_view text)
{
    return {reinterpret_cast<const uint8_t*>(text.data()), text.size()};
}

// Everything the buffer holds from offset on, gathered view by view.
std::string read_from(const OutputBuffer& buffer, uint64_t offset)
{
    std::string text;
    while (offset < buffer.end()) {
        auto view = buffer.view(offset, SIZE_MAX);
        EXPECT_FALSE(view.empty());
        if (view.empty())
            break;
        text.append(view.begin(), view.end());
        offset += view.size();
    }
    return text;
}

std::string pattern(size_t length)
{
    std::string text(length, '\0');
    for (size_t index = 0; index < length; index++)
        text[index] = static_cast<char>('a' + index % 23);
    return text;
}

TEST(OutputBuffer, StartsEmptyAtOffsetZero)
{
    OutputBuffer buffer;
    EXPECT_EQ(buffer.start(), 0u);
    EXPECT_EQ(buffer.end(), 0u);
    EXPECT_TRUE(buffer.view(0, 10).empty());
}

TEST(OutputBuffer, AppendedBytesReadBackAcrossBlocks)
{
    OutputBuffer buffer;
    std::string text = pattern(3 * OutputBuffer::kBlockSize + 17);
    buffer.append(bytes_of(text));
    EXPECT_EQ(buffer.end(), text.size());
    EXPECT_EQ(read_from(buffer, 0), text);
    EXPECT_EQ(
        read_from(buffer, OutputBuffer::kBlockSize - 1), text.substr(OutputBuffer::kBlockSize - 1));
}

TEST(OutputBuffer, ViewStopsAtTheBlockEndAndTheLimit)
{
    OutputBuffer buffer;
    buffer.append(bytes_of(pattern(2 * OutputBuffer::kBlockSize)));
    EXPECT_EQ(buffer.view(10, SIZE_MAX).size(), OutputBuffer::kBlockSize - 10);
    EXPECT_EQ(buffer.view(10, 5).size(), 5u);
}

TEST(OutputBuffer, TailSpaceAndCommitAppendInPlace)
{
    OutputBuffer buffer;
    auto space = buffer.tail_space();
    ASSERT_EQ(space.size(), OutputBuffer::kBlockSize);
    space[0] = 'x';
    space[1] = 'y';
    buffer.commit(2);
    EXPECT_EQ(buffer.tail_space().size(), OutputBuffer::kBlockSize - 2);
    EXPECT_EQ(read_from(buffer, 0), "xy");
}

TEST(OutputBuffer, DroppingKeepsOffsetsAbsolute)
{
    OutputBuffer buffer;
    std::string text = pattern(5 * OutputBuffer::kBlockSize);
    buffer.append(bytes_of(text));
    buffer.drop_until(2 * OutputBuffer::kBlockSize + 100);
    EXPECT_EQ(buffer.start(), 2 * OutputBuffer::kBlockSize + 100);
    EXPECT_EQ(buffer.size(), text.size() - buffer.start());
    EXPECT_TRUE(buffer.view(buffer.start() - 1, 1).empty());
    EXPECT_EQ(read_from(buffer, buffer.start()), text.substr(buffer.start()));

    buffer.append(bytes_of("more"));
    EXPECT_EQ(read_from(buffer, text.size()), "more");
}

TEST(OutputBuffer, DropIsClampedToWhatIsHeld)
{
    OutputBuffer buffer;
    buffer.append(bytes_of("abcdef"));
    buffer.drop_until(3);
    buffer.drop_until(1);
    EXPECT_EQ(buffer.start(), 3u);
    buffer.drop_until(100);
    EXPECT_EQ(buffer.start(), 6u);
    EXPECT_EQ(buffer.size(), 0u);
}

TEST(OutputBuffer, DroppingEverythingAtABlockBoundaryThenAppendingWorks)
{
    OutputBuffer buffer;
    std::string text = pattern(2 * OutputBuffer::kBlockSize);
    buffer.append(bytes_of(text));
    buffer.drop_until(text.size());
    EXPECT_EQ(buffer.size(), 0u);
    buffer.append(bytes_of("next"));
    EXPECT_EQ(buffer.start(), text.size());
    EXPECT_EQ(read_from(buffer, text.size()), "next");
}

} // namespace
} // namespace spore::agent
