#include "arch/aarch64/device_tree.h"

#include <gtest/gtest.h>
#include <libfdt.h>

#include <string>

namespace spore {
namespace {

DeviceTreeConfig make_config()
{
    DeviceTreeConfig config;
    config.ram_size = 256 * board::MiB;
    config.vcpu_mpidrs = {0x8000'0000, 0x8000'0001};
    config.bootargs = "console=hvc0 quiet";
    config.initrd_address = 0x9000'0000;
    config.initrd_size = 0x1000;
    config.virtio_slots = {board::VirtioSlot::Console, board::VirtioSlot::Vsock};
    config.rng_seed = {1, 2, 3, 4};
    return config;
}

std::string property_string(const void* fdt, const char* path, const char* name)
{
    int node = fdt_path_offset(fdt, path);
    if (node < 0)
        return "<no node>";
    int length = 0;
    auto* value = static_cast<const char*>(fdt_getprop(fdt, node, name, &length));
    return value ? std::string(value, length > 0 ? length - 1 : 0) : "<no property>";
}

uint64_t property_u64(const void* fdt, const char* path, const char* name, int index = 0)
{
    int node = fdt_path_offset(fdt, path);
    int length = 0;
    auto* value = static_cast<const uint8_t*>(fdt_getprop(fdt, node, name, &length));
    if (!value || length < (index + 1) * 8)
        return ~0ULL;
    // Properties are only 4-byte aligned inside the blob.
    return fdt64_ld(reinterpret_cast<const fdt64_t*>(value + index * 8));
}

TEST(DeviceTree, IsValidAndDescribesTheBoard)
{
    auto blob = build_device_tree(make_config());
    ASSERT_TRUE(blob.has_value()) << blob.error().message();
    const void* fdt = blob->data();
    ASSERT_EQ(fdt_check_header(fdt), 0);
    EXPECT_LE(blob->size(), board::fdt_max_size);

    EXPECT_EQ(property_string(fdt, "/chosen", "bootargs"), "console=hvc0 quiet");
    EXPECT_EQ(property_u64(fdt, "/chosen", "linux,initrd-start"), 0x9000'0000u);
    EXPECT_EQ(property_u64(fdt, "/chosen", "linux,initrd-end"), 0x9000'1000u);
    EXPECT_EQ(property_u64(fdt, "/memory@80000000", "reg", 0), board::ram_base);
    EXPECT_EQ(property_u64(fdt, "/memory@80000000", "reg", 1), 256 * board::MiB);
    EXPECT_EQ(property_string(fdt, "/psci", "method"), "hvc");
    EXPECT_EQ(property_string(fdt, "/intc@8000000", "compatible"), "arm,gic-v3");
    EXPECT_EQ(property_u64(fdt, "/intc@8000000", "reg", 2), board::gic_redistributor_base);
}

TEST(DeviceTree, OneCpuNodePerVcpuWithAffinityAsReg)
{
    auto blob = build_device_tree(make_config());
    ASSERT_TRUE(blob.has_value());
    EXPECT_GE(fdt_path_offset(blob->data(), "/cpus/cpu@0"), 0);
    EXPECT_GE(fdt_path_offset(blob->data(), "/cpus/cpu@1"), 0);
    EXPECT_LT(fdt_path_offset(blob->data(), "/cpus/cpu@2"), 0);
    EXPECT_EQ(property_string(blob->data(), "/cpus/cpu@1", "enable-method"), "psci");
}

TEST(DeviceTree, VirtioNodesOnlyForPresentSlotsWithTheirSpi)
{
    auto blob = build_device_tree(make_config());
    ASSERT_TRUE(blob.has_value());
    const void* fdt = blob->data();
    int vsock = fdt_path_offset(fdt, "/virtio_mmio@a002000");
    ASSERT_GE(vsock, 0);
    EXPECT_LT(fdt_path_offset(fdt, "/virtio_mmio@a001000"), 0);

    int length = 0;
    auto* cells = static_cast<const fdt32_t*>(fdt_getprop(fdt, vsock, "interrupts", &length));
    ASSERT_EQ(length, 12);
    EXPECT_EQ(fdt32_to_cpu(cells[0]), 0u); // SPI
    EXPECT_EQ(fdt32_to_cpu(cells[1]), board::virtio_spi_base + 2);
}

TEST(DeviceTree, GenerationDeviceHasItsPageAndSpi)
{
    auto blob = build_device_tree(make_config());
    ASSERT_TRUE(blob.has_value());
    const void* fdt = blob->data();
    EXPECT_EQ(property_string(fdt, "/generation@b000000", "compatible"), "sporevm,generation-v1");
    EXPECT_EQ(property_u64(fdt, "/generation@b000000", "reg", 0), board::generation_base);
    EXPECT_EQ(property_u64(fdt, "/generation@b000000", "reg", 1), board::generation_size);
}

TEST(DeviceTree, VcpuCountOutOfRangeIsRefused)
{
    auto config = make_config();
    config.vcpu_mpidrs.clear();
    EXPECT_FALSE(build_device_tree(config).has_value());
    config.vcpu_mpidrs.assign(board::max_vcpus + 1, 0);
    EXPECT_FALSE(build_device_tree(config).has_value());
}

} // namespace
} // namespace spore
