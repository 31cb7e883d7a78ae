#include "arch/aarch64/kernel_image.h"

#include <gtest/gtest.h>

#include <cstring>
#include <vector>

namespace spore {
namespace {

std::vector<uint8_t> make_image(uint64_t text_offset, uint64_t image_size, uint64_t flags = 0,
                                size_t file_size = 4096)
{
    std::vector<uint8_t> image(file_size);
    std::memcpy(image.data() + 8, &text_offset, 8);
    std::memcpy(image.data() + 16, &image_size, 8);
    std::memcpy(image.data() + 24, &flags, 8);
    std::memcpy(image.data() + 56, "ARM\x64", 4);
    return image;
}

TEST(KernelImage, ValidHeaderIsParsed)
{
    auto header = parse_kernel_image(make_image(0, 1 << 20));
    ASSERT_TRUE(header.has_value()) << header.error().message();
    EXPECT_EQ(header->text_offset, 0u);
    EXPECT_EQ(header->image_size, 1u << 20);
}

TEST(KernelImage, TooShortIsRefused)
{
    auto image = make_image(0, 1 << 20);
    image.resize(63);
    EXPECT_FALSE(parse_kernel_image(image).has_value());
}

TEST(KernelImage, BadMagicIsRefused)
{
    auto image = make_image(0, 1 << 20);
    image[56] = 'X';
    auto header = parse_kernel_image(image);
    ASSERT_FALSE(header.has_value());
    EXPECT_NE(header.error().message().find("magic"), std::string::npos);
}

TEST(KernelImage, GzipIsRefusedWithHint)
{
    auto image = make_image(0, 1 << 20);
    image[0] = 0x1f;
    image[1] = 0x8b;
    auto header = parse_kernel_image(image);
    ASSERT_FALSE(header.has_value());
    EXPECT_NE(header.error().message().find("gzip"), std::string::npos);
}

TEST(KernelImage, BigEndianIsRefused) { EXPECT_FALSE(parse_kernel_image(make_image(0, 1 << 20, 1)).has_value()); }

TEST(KernelImage, ZeroImageSizeIsRefused) { EXPECT_FALSE(parse_kernel_image(make_image(0, 0)).has_value()); }

TEST(KernelImage, ImageSizeSmallerThanFileIsRefused)
{
    EXPECT_FALSE(parse_kernel_image(make_image(0, 100, 0, 4096)).has_value());
}

TEST(KernelImage, MisalignedTextOffsetIsRefused)
{
    EXPECT_FALSE(parse_kernel_image(make_image(0x80001, 1 << 20)).has_value());
}

} // namespace
} // namespace spore
