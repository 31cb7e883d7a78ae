#pragma once

// Names for KVM/arm64 register ids, so that spores store registers by what
// they are ("x0", "SCTLR_EL1") rather than by kernel ABI numbers.
//
// The mapping is a bijection over the register classes SporeVM supports:
// core registers, system registers, the virtual timer, firmware
// pseudo-registers and cache geometry selectors. A system register without
// a table entry gets the architecture's generic name S<op0>_<op1>_C<n>_C<m>_<op2>.
// Anything else has no name: capture refuses it rather than saving
// something a restorer could not interpret.
//
// This file encodes the ids by hand, without <linux/kvm.h>, so it builds
// and is tested natively; kvm.cc checks the constants against the kernel
// headers at compile time.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace spore::kvm {

namespace register_id {
constexpr uint64_t arch_arm64 = 0x6000'0000'0000'0000ULL;
constexpr uint64_t size_u32 = 0x0020'0000'0000'0000ULL;
constexpr uint64_t size_u64 = 0x0030'0000'0000'0000ULL;
constexpr uint64_t size_u128 = 0x0040'0000'0000'0000ULL;
constexpr uint64_t size_mask = 0x00f0'0000'0000'0000ULL;
constexpr unsigned coprocessor_shift = 16;
constexpr uint64_t coprocessor_mask = 0x0fffULL << coprocessor_shift;
constexpr uint64_t coprocessor_core = 0x0010ULL << coprocessor_shift;
constexpr uint64_t coprocessor_demux = 0x0011ULL << coprocessor_shift;
constexpr uint64_t coprocessor_system = 0x0013ULL << coprocessor_shift;
constexpr uint64_t coprocessor_firmware = 0x0014ULL << coprocessor_shift;
constexpr uint64_t coprocessor_firmware_bitmap = 0x0016ULL << coprocessor_shift;

// A system register id from its encoding.
constexpr uint64_t system(unsigned op0, unsigned op1, unsigned crn, unsigned crm, unsigned op2)
{
    return arch_arm64 | size_u64 | coprocessor_system | (uint64_t{op0} << 14) | (uint64_t{op1} << 11) |
           (uint64_t{crn} << 7) | (uint64_t{crm} << 3) | op2;
}

// KVM's virtual timer registers. The ids of the counter and the compare
// value are swapped relative to their architectural encodings, a
// long-standing KVM ABI quirk, so they are named here explicitly.
constexpr uint64_t timer_control = system(3, 3, 14, 3, 1);
constexpr uint64_t timer_counter = system(3, 3, 14, 3, 2);
constexpr uint64_t timer_compare = system(3, 3, 14, 0, 2);
} // namespace register_id

// Size in bytes of the register an id designates (4, 8 or 16), or 0 for a
// size SporeVM does not handle.
unsigned register_size(uint64_t id);

std::optional<std::string> register_name(uint64_t id);
std::optional<uint64_t> register_id_from_name(std::string_view name);

} // namespace spore::kvm
