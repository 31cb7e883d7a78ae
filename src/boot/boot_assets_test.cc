#include "boot/boot_assets.h"

#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include "common/sha256.h"

namespace spore {
namespace {

namespace fs = std::filesystem;

const char* const good_config =
    "CONFIG_VIRTIO_MMIO=y\nCONFIG_VIRTIO_CONSOLE=y\nCONFIG_HW_RANDOM_VIRTIO=y\nCONFIG_VSOCKETS=y\n"
    "CONFIG_VIRTIO_VSOCKETS=y\nCONFIG_BLK_DEV_INITRD=y\nCONFIG_DEVTMPFS=y\nCONFIG_ARM_GIC_V3=y\n"
    "CONFIG_ARM_PSCI_FW=y\nCONFIG_PROC_FS=y\nCONFIG_SYSFS=y\nCONFIG_TMPFS=y\nCONFIG_UNIX98_PTYS=y\n"
    "CONFIG_CGROUPS=y\nCONFIG_FILE_LOCKING=y\n";

std::vector<uint8_t> fake_image()
{
    std::vector<uint8_t> image(8192, 0);
    uint64_t image_size = 1 << 20;
    std::memcpy(image.data() + 16, &image_size, 8);
    std::memcpy(image.data() + 56, "ARM\x64", 4);
    return image;
}

void write(const fs::path& path, std::span<const uint8_t> bytes)
{
    std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()),
                                                 static_cast<std::streamsize>(bytes.size()));
}

void write(const fs::path& path, const std::string& text) { std::ofstream(path) << text; }

class BootAssets : public ::testing::Test {
protected:
    void SetUp() override
    {
        m_directory = fs::temp_directory_path() / ("spore-boot-test-" + std::to_string(getpid()));
        fs::create_directories(m_directory);
        auto image = fake_image();
        write(m_directory / "Image", image);
        write(m_directory / "Image.sha256", to_hex(sha256(image)) + "  Image\n");
        write(m_directory / "config", good_config);
    }
    void TearDown() override { fs::remove_all(m_directory); }

    fs::path m_directory;
};

TEST_F(BootAssets, ManagedKernelWithMatchingDigestLoads)
{
    auto kernel = load_managed_kernel(m_directory);
    ASSERT_TRUE(kernel.has_value()) << kernel.error().message();
    EXPECT_EQ(kernel->header.image_size, 1u << 20);
}

TEST_F(BootAssets, ManagedKernelWithOneFlippedByteIsRefused)
{
    auto image = fake_image();
    image[4000] ^= 1;
    write(m_directory / "Image", image);
    auto kernel = load_managed_kernel(m_directory);
    ASSERT_FALSE(kernel.has_value());
    EXPECT_NE(kernel.error().message().find("does not match"), std::string::npos);
}

TEST_F(BootAssets, MissingManagedKernelPointsAtTheBuild)
{
    fs::remove(m_directory / "Image");
    auto kernel = load_managed_kernel(m_directory);
    ASSERT_FALSE(kernel.has_value());
    EXPECT_EQ(kernel.error().code(), ErrorCode::NotFound);
    EXPECT_NE(kernel.error().message().find("kernel/build"), std::string::npos);
}

TEST_F(BootAssets, OverrideWithoutAnyConfigIsRefused)
{
    fs::remove(m_directory / "config");
    auto kernel = load_kernel_override(m_directory / "Image");
    ASSERT_FALSE(kernel.has_value());
    EXPECT_NE(kernel.error().message().find("CONFIG_IKCONFIG"), std::string::npos);
}

TEST_F(BootAssets, OverrideWithSiblingConfigLoads)
{
    auto kernel = load_kernel_override(m_directory / "Image");
    EXPECT_TRUE(kernel.has_value()) << kernel.error().message();
}

TEST_F(BootAssets, OverrideThatIsNotAnImageIsRefused)
{
    write(m_directory / "junk", std::string(100000, 'x'));
    auto kernel = load_kernel_override(m_directory / "junk");
    ASSERT_FALSE(kernel.has_value());
    EXPECT_NE(kernel.error().message().find("not an arm64 Image"), std::string::npos);
}

TEST_F(BootAssets, MissingOverrideIsRefused)
{
    EXPECT_FALSE(load_kernel_override(m_directory / "nonexistent").has_value());
}

TEST_F(BootAssets, EmptyInitrdIsRefused)
{
    write(m_directory / "empty.cpio", std::string());
    EXPECT_FALSE(load_initrd(m_directory / "empty.cpio").has_value());
}

} // namespace
} // namespace spore
