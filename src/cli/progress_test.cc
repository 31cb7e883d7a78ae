#include "cli/progress.h"

#include <gtest/gtest.h>

namespace spore::cli {
namespace {

TEST(FormatBytes, UsesBinaryUnitsWithOneDecimal)
{
    EXPECT_EQ(format_bytes(0), "0 B");
    EXPECT_EQ(format_bytes(1023), "1023 B");
    EXPECT_EQ(format_bytes(1024), "1.0 KiB");
    EXPECT_EQ(format_bytes(3 << 19), "1.5 MiB");
    EXPECT_EQ(format_bytes(uint64_t(5) << 30), "5.0 GiB");
}

TEST(ProgressLine, RendersCountsSizesAndRate)
{
    ProgressLine line("pull 000042", "chunks");
    EXPECT_EQ(line.render(1, 4, 2 << 20, 8 << 20, 2.0),
        "pull 000042 [######..................] 1/4 chunks, 2.0 MiB of 8.0 MiB, 1.0 MiB/s");
}

TEST(ProgressLine, EmptyTransferShowsAFullBar)
{
    ProgressLine line("push", "blobs");
    EXPECT_EQ(line.render(0, 0, 0, 0, 0), "push [########################] 0/0 blobs, 0 B of 0 B, 0 B/s");
}

} // namespace
} // namespace spore::cli
