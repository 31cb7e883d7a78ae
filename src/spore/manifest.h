#pragma once

// The in-memory model of a spore manifest (docs/spore-format.md). The
// manifest is the only authority on what a spore is: every path, name and
// cache is a hint checked against it.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/error.h"

namespace spore {

// Register-like values by name. Values are "0x" followed by lower-case hex
// digits, two per byte of the value's architectural width (16 digits for
// 64-bit registers, 32 for 128-bit SIMD registers), so that width survives
// a round trip and inspection needs no decoding.
using NamedValues = std::map<std::string, std::string>;

// What a host must match to restore the spore. Restore refuses on any
// difference, before guest code runs.
struct PlatformContract {
    std::string architecture;         // "aarch64"
    std::string backend;              // "kvm"
    uint32_t device_model_version = 0;
    uint64_t counter_frequency = 0;   // CNTFRQ_EL0 in Hz
    uint32_t vcpu_count = 0;
    uint64_t ram_base = 0;
    uint64_t ram_size = 0;
    // Guest-visible CPU identification registers (MIDR_EL1, ID_AA64*), by
    // name, as the guest read them on the capturing host.
    NamedValues cpu_identification;

    bool operator==(const PlatformContract&) const = default;
};

struct VcpuState {
    uint32_t index = 0;
    bool powered_on = false;          // KVM_MP_STATE runnable vs stopped
    NamedValues registers;            // core, FP/SIMD, system and timer registers

    bool operator==(const VcpuState&) const = default;
};

struct GicState {
    NamedValues distributor;          // GICD_* by register name
    // Per vCPU, in index order: redistributor (GICR_*) and CPU interface
    // (ICC_*) registers.
    std::vector<NamedValues> redistributors;
    std::vector<NamedValues> cpu_interfaces;
    NamedValues line_levels;          // level of each SPI line group

    bool operator==(const GicState&) const = default;
};

// One virtio-mmio transport with its device, by board slot name
// ("console", "rng", "vsock").
struct DeviceState {
    std::string slot;
    uint32_t device_id = 0;
    NamedValues transport;            // status, features, queue registers and ring positions
    NamedValues device;               // device-specific fields, empty for stateless devices

    bool operator==(const DeviceState&) const = default;
};

// A chunk of guest RAM: its digest ("sha256:<hex>"), or nothing for an
// all-zero chunk that is not stored.
struct MemoryChunk {
    std::optional<std::string> digest;

    bool operator==(const MemoryChunk&) const = default;
};

struct MemoryIndex {
    uint64_t chunk_size = 0;          // bytes; a power of two that divides ram_size
    std::vector<MemoryChunk> chunks;  // in guest physical order from ram_base

    bool operator==(const MemoryIndex&) const = default;
};

// The guest agent the spore's initrd runs, so that the host speaks its
// protocol version.
struct AgentInfo {
    uint32_t protocol_version = 0;
    uint32_t port = 0;

    bool operator==(const AgentInfo&) const = default;
};

// A command that was running at capture, and how much of its output the
// capturing host had already delivered, so a resume reattaches without
// losing or repeating bytes.
struct RunningSession {
    std::string session_id;
    uint64_t stdout_offset = 0;
    uint64_t stderr_offset = 0;

    bool operator==(const RunningSession&) const = default;
};

// Who an instance of the spore is (docs/generation-device.md): the
// generation its guest is presented at the next resume and the identity a
// fork gives each child. Presented to the guest with fresh entropy and time
// at every resume, so clones never share hostnames, MACs or random state.
struct Identity {
    uint64_t generation = 0;          // presented at the next resume; at least 1
    uint64_t parent_generation = 0;   // of the spore this one came from; 0 for none
    uint32_t fork_index = 0;          // position in the fork batch; 0 outside a fork
    uint32_t fork_count = 1;          // children in the batch; 1 outside a fork
    std::string batch_id;             // 32 lower-case hex digits; empty outside a fork
    std::string vm_id;                // 32 lower-case hex digits
    std::string hostname;             // 1 to 63 of [a-z0-9-], no '-' at either end
    std::string mac_seed;             // 12 lower-case hex digits

    bool operator==(const Identity&) const = default;
};

struct Manifest {
    static constexpr const char* schema_name = "sporevm.spore";
    static constexpr uint32_t schema_version = 1;

    std::string created_at;           // RFC 3339 UTC
    PlatformContract platform;
    std::vector<VcpuState> vcpus;
    GicState gic;
    std::vector<DeviceState> devices;
    MemoryIndex memory;
    AgentInfo agent;
    // Sessions that were running in the guest at capture, for `spore resume`.
    std::vector<RunningSession> running_sessions;
    // The identity the next resume presents to the guest.
    Identity identity;

    bool operator==(const Manifest&) const = default;
};

} // namespace spore
