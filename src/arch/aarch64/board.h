#pragma once

// The SporeVM aarch64 board: the guest-visible machine, frozen. Every
// address, interrupt and size here is part of the spore format (see
// docs/board.md); changing any of them requires a new device-model version.

#include <cstdint>

namespace spore::board {

// Bumped on any guest-visible change to this file or to the device tree.
constexpr uint32_t device_model_version = 1;

constexpr uint64_t KiB = 1024;
constexpr uint64_t MiB = 1024 * KiB;
constexpr uint64_t GiB = 1024 * MiB;

// RAM.
constexpr uint64_t ram_base = 0x8000'0000;
constexpr uint64_t default_ram_size = 512 * MiB;
constexpr uint64_t min_ram_size = 64 * MiB;
constexpr uint64_t max_ram_size = 64 * GiB;
constexpr uint64_t ram_alignment = 2 * MiB;

// vCPUs.
constexpr unsigned max_vcpus = 8;

// GICv3: distributor and one 128 KiB redistributor frame pair per vCPU.
constexpr uint64_t gic_distributor_base = 0x0800'0000;
constexpr uint64_t gic_distributor_size = 64 * KiB;
constexpr uint64_t gic_redistributor_base = 0x080a'0000;
constexpr uint64_t gic_redistributor_stride = 128 * KiB;
constexpr uint64_t gic_redistributor_size = max_vcpus * gic_redistributor_stride;
// Interrupt IDs the GIC implements: SGIs, PPIs and SPIs 32..127.
constexpr uint32_t gic_interrupt_count = 128;
constexpr uint32_t spi_base = 32;

// Architected timer PPIs (INTIDs 16 + n for PPI n).
constexpr uint32_t timer_ppi_secure = 13;
constexpr uint32_t timer_ppi_nonsecure = 14;
constexpr uint32_t timer_ppi_virtual = 11;
constexpr uint32_t timer_ppi_hypervisor = 10;

// A write-only 8250-style UART for earlycon under --debug. It is not in
// the device tree: only `earlycon=uart8250,mmio32,<base>` names it.
constexpr uint64_t debug_uart_base = 0x0900'0000;
constexpr uint64_t debug_uart_size = 4 * KiB;

// virtio-mmio transports: one 4 KiB page and one SPI per slot. A slot
// belongs to one device type forever; absent devices leave a hole.
constexpr uint64_t virtio_mmio_base = 0x0a00'0000;
constexpr uint64_t virtio_mmio_stride = 4 * KiB;
constexpr uint32_t virtio_spi_base = 16; // SPI number of slot 0

enum class VirtioSlot : uint32_t {
    Console = 0,
    Rng = 1,
    Vsock = 2,
    Block = 3,
    Net = 4,
};

constexpr uint64_t virtio_slot_address(VirtioSlot slot)
{
    return virtio_mmio_base + static_cast<uint32_t>(slot) * virtio_mmio_stride;
}

// The stable name of a slot, used for device state in spores.
constexpr const char* virtio_slot_name(VirtioSlot slot)
{
    switch (slot) {
    case VirtioSlot::Console: return "console";
    case VirtioSlot::Rng: return "rng";
    case VirtioSlot::Vsock: return "vsock";
    case VirtioSlot::Block: return "block";
    case VirtioSlot::Net: return "net";
    }
    return "unknown";
}

// The GIC INTID (spi_base + SPI number) of a virtio slot's interrupt.
constexpr uint32_t virtio_slot_intid(VirtioSlot slot)
{
    return spi_base + virtio_spi_base + static_cast<uint32_t>(slot);
}

// The generation device (docs/generation-device.md): a register page and a
// parameter page, one SPI.
constexpr uint64_t generation_base = 0x0b00'0000;
constexpr uint64_t generation_size = 8 * KiB;
constexpr uint32_t generation_spi = 8;
constexpr uint32_t generation_intid = spi_base + generation_spi;
constexpr const char* generation_compatible = "sporevm,generation-v1";

// vsock addressing.
constexpr uint64_t guest_cid = 3;

// Boot placement: the device tree sits in the last 2 MiB of RAM, the
// initrd below it on a 2 MiB boundary, the kernel at the start of RAM plus
// its text_offset.
constexpr uint64_t fdt_max_size = 64 * KiB;
constexpr uint64_t fdt_region_size = 2 * MiB;

// PSTATE at entry: EL1h with D, A, I and F masked.
constexpr uint64_t boot_pstate = 0x3c5;

} // namespace spore::board
