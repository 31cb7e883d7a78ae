#include "arch/aarch64/boot_layout.h"

#include <gtest/gtest.h>

#include "arch/aarch64/board.h"

namespace spore {
namespace {

using board::MiB;

TEST(BootLayout, KernelAtBaseDeviceTreeAtTopInitrdBelowIt)
{
    KernelImageHeader kernel{.text_offset = 0, .image_size = 20 * MiB};
    auto layout = plan_boot_layout(512 * MiB, kernel, 3 * MiB);
    ASSERT_TRUE(layout.has_value()) << layout.error().message();
    EXPECT_EQ(layout->kernel_address, board::ram_base);
    EXPECT_EQ(layout->fdt_address, board::ram_base + 510 * MiB);
    EXPECT_EQ(layout->initrd_address, board::ram_base + 506 * MiB);
    EXPECT_EQ(layout->initrd_address % (2 * MiB), 0u);
}

TEST(BootLayout, TextOffsetIsHonoured)
{
    KernelImageHeader kernel{.text_offset = 0x80000, .image_size = 20 * MiB};
    auto layout = plan_boot_layout(512 * MiB, kernel, 0);
    ASSERT_TRUE(layout.has_value());
    EXPECT_EQ(layout->kernel_address, board::ram_base + 0x80000);
    EXPECT_EQ(layout->initrd_address, 0u);
}

TEST(BootLayout, InitrdOverlappingKernelIsRefused)
{
    KernelImageHeader kernel{.text_offset = 0, .image_size = 60 * MiB};
    EXPECT_FALSE(plan_boot_layout(64 * MiB, kernel, 3 * MiB).has_value());
}

TEST(BootLayout, InitrdLargerThanRamIsRefused)
{
    KernelImageHeader kernel{.text_offset = 0, .image_size = 1 * MiB};
    EXPECT_FALSE(plan_boot_layout(64 * MiB, kernel, 1024 * MiB).has_value());
}

} // namespace
} // namespace spore
