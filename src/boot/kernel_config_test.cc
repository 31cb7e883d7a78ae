#include "boot/kernel_config.h"

#include <gtest/gtest.h>
#include <zlib.h>

#include <string>
#include <vector>

namespace spore {
namespace {

const char* const complete_config = R"(# comment
CONFIG_VIRTIO_MMIO=y
CONFIG_VIRTIO_CONSOLE=y
CONFIG_HW_RANDOM_VIRTIO=y
CONFIG_VSOCKETS=y
CONFIG_VIRTIO_VSOCKETS=y
CONFIG_BLK_DEV_INITRD=y
CONFIG_DEVTMPFS=y
CONFIG_ARM_GIC_V3=y
CONFIG_ARM_PSCI_FW=y
CONFIG_PROC_FS=y
CONFIG_SYSFS=y
CONFIG_TMPFS=y
CONFIG_UNIX98_PTYS=y
CONFIG_CGROUPS=y
CONFIG_FILE_LOCKING=y
CONFIG_NR_CPUS=8
CONFIG_CMDLINE="quiet"
# CONFIG_MODULES is not set
)";

std::vector<uint8_t> gzip(const std::string& text)
{
    z_stream stream{};
    deflateInit2(&stream, 9, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY);
    std::vector<uint8_t> out(text.size() + 1024);
    stream.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(text.data()));
    stream.avail_in = static_cast<uInt>(text.size());
    stream.next_out = out.data();
    stream.avail_out = static_cast<uInt>(out.size());
    deflate(&stream, Z_FINISH);
    out.resize(stream.total_out);
    deflateEnd(&stream);
    return out;
}

std::vector<uint8_t> image_with_config(const std::string& text)
{
    std::vector<uint8_t> image(1000, 0xaa);
    std::string start = "IKCFG_ST", end = "IKCFG_ED";
    image.insert(image.end(), start.begin(), start.end());
    auto compressed = gzip(text);
    image.insert(image.end(), compressed.begin(), compressed.end());
    image.insert(image.end(), end.begin(), end.end());
    image.resize(image.size() + 500, 0x55);
    return image;
}

TEST(KernelConfig, ParsesValuesAndIgnoresComments)
{
    auto config = KernelConfig::parse(complete_config);
    ASSERT_TRUE(config.has_value());
    EXPECT_EQ(config->value("CONFIG_NR_CPUS"), "8");
    EXPECT_EQ(config->value("CONFIG_CMDLINE"), "\"quiet\"");
    EXPECT_FALSE(config->value("CONFIG_MODULES").has_value());
}

TEST(KernelConfig, LineWithoutEqualsIsRefused)
{
    EXPECT_FALSE(KernelConfig::parse("CONFIG_BROKEN\n").has_value());
}

TEST(KernelConfig, CompleteConfigPassesTheCheck)
{
    auto config = KernelConfig::parse(complete_config);
    EXPECT_TRUE(check_guest_kernel_config(*config).has_value());
}

TEST(KernelConfig, MissingOrModularOptionsAreNamed)
{
    std::string text = complete_config;
    text.replace(text.find("CONFIG_VSOCKETS=y"), 17, "CONFIG_VSOCKETS=m");
    text.replace(text.find("CONFIG_VIRTIO_MMIO=y\n"), 21, "");
    auto result = check_guest_kernel_config(*KernelConfig::parse(text));
    ASSERT_FALSE(result.has_value());
    EXPECT_NE(result.error().message().find("CONFIG_VSOCKETS=y"), std::string::npos);
    EXPECT_NE(result.error().message().find("CONFIG_VIRTIO_MMIO=y"), std::string::npos);
    EXPECT_EQ(result.error().message().find("CONFIG_VIRTIO_CONSOLE"), std::string::npos);
}

TEST(KernelConfig, EmbeddedConfigIsFoundAndInflated)
{
    auto config = KernelConfig::from_image(image_with_config(complete_config));
    ASSERT_TRUE(config.has_value()) << config.error().message();
    EXPECT_EQ(config->value("CONFIG_VSOCKETS"), "y");
}

TEST(KernelConfig, ImageWithoutMarkersReportsNotFound)
{
    std::vector<uint8_t> image(4096, 0);
    auto config = KernelConfig::from_image(image);
    ASSERT_FALSE(config.has_value());
    EXPECT_EQ(config.error().code(), ErrorCode::NotFound);
}

TEST(KernelConfig, CorruptEmbeddedConfigIsRefused)
{
    auto image = image_with_config(complete_config);
    image[1000 + 8 + 20] ^= 0xff;
    auto config = KernelConfig::from_image(image);
    ASSERT_FALSE(config.has_value());
    EXPECT_EQ(config.error().code(), ErrorCode::InvalidInput);
}

} // namespace
} // namespace spore
