#pragma once

#include <cstdint>
#include <atomic>
#include <cstring>
#include <memory>
#include <vector>
#include <span>
#include <type_traits>

#include "common/error.h"

namespace spore {

// An address in the guest's physical address space. A distinct type so
// that guest addresses never mix silently with host pointers or sizes.
struct GuestAddress {
    uint64_t value = 0;

    constexpr GuestAddress() = default;
    constexpr explicit GuestAddress(uint64_t address)
        : value(address)
    {
    }
    constexpr auto operator<=>(const GuestAddress&) const = default;

    // Wrapping is possible: callers that add guest-controlled offsets check
    // the result through GuestMemory, which rejects ranges that wrap.
    constexpr GuestAddress operator+(uint64_t offset) const { return GuestAddress(value + offset); }
};

// The guest's RAM: one contiguous region [base, base + size) backed by a
// host mapping. Every access from the monitor goes through this type, and
// every access checks the whole range [address, address + length), not only
// its start, so that a guest cannot point a device past the end of RAM.
//
// Concurrency: vCPUs write guest memory at any time. Reads here are plain
// copies; callers that need ordering against the guest (virtqueue indices)
// use the acquire/release accessors.
class GuestMemory {
public:
    // Maps anonymous, zeroed memory. size must be a multiple of the host
    // page size.
    static Result<GuestMemory> create(GuestAddress base, uint64_t size);

    // Maps size bytes of fd privately (MAP_PRIVATE): reads share the file's
    // page cache with every other mapping, writes become private copies.
    // The file is never written.
    static Result<GuestMemory> create_from_file(GuestAddress base, uint64_t size, int fd);

    GuestMemory(GuestMemory&& other) noexcept;
    GuestMemory& operator=(GuestMemory&& other) noexcept;
    GuestMemory(const GuestMemory&) = delete;
    GuestMemory& operator=(const GuestMemory&) = delete;
    ~GuestMemory();

    GuestAddress base() const { return m_base; }
    uint64_t size() const { return m_size; }
    GuestAddress end() const { return m_base + m_size; }

    // True when [address, address + length) lies inside RAM without wrapping.
    bool contains(GuestAddress address, uint64_t length) const;

    Result<void> read(GuestAddress address, std::span<uint8_t> out) const;
    Result<void> write(GuestAddress address, std::span<const uint8_t> bytes);
    Result<void> fill(GuestAddress address, uint8_t byte, uint64_t length);

    // A bounds-checked view of [address, address + length). The span stays
    // valid for the lifetime of this GuestMemory; the guest may change the
    // bytes under it at any time.
    Result<std::span<uint8_t>> slice(GuestAddress address, uint64_t length);

    template <typename T> Result<T> read_object(GuestAddress address) const
    {
        static_assert(std::is_trivially_copyable_v<T>);
        T object;
        TRY(read(address, std::span(reinterpret_cast<uint8_t*>(&object), sizeof object)));
        return object;
    }

    template <typename T> Result<void> write_object(GuestAddress address, const T& object)
    {
        static_assert(std::is_trivially_copyable_v<T>);
        return write(address, std::span(reinterpret_cast<const uint8_t*>(&object), sizeof object));
    }

    // Naturally aligned 16-bit accesses with acquire/release ordering, for
    // indices shared with the guest. Misaligned addresses are refused.
    Result<uint16_t> load_u16_acquire(GuestAddress address) const;
    Result<void> store_u16_release(GuestAddress address, uint16_t value);

    // Starts recording which granules (of granule_size bytes, a power of
    // two) the monitor writes through this type. The hypervisor's dirty
    // log sees only guest writes; device writes land here.
    void track_writes(uint64_t granule_size);
    // The granules written since the last call, and clears the record.
    std::vector<bool> take_written_granules();

    // The host mapping behind RAM, for registering it with the hypervisor
    // and nothing else: everything else goes through the checked accessors.
    uint8_t* unsafe_host_base() const { return m_host; }

private:
    GuestMemory(GuestAddress base, uint64_t size, uint8_t* host)
        : m_base(base)
        , m_size(size)
        , m_host(host)
    {
    }
    uint8_t* host_pointer(GuestAddress address) const
    {
        return m_host + (address.value - m_base.value);
    }
    Error out_of_range(GuestAddress address, uint64_t length) const;

    void mark_written(GuestAddress address, uint64_t length);

    GuestAddress m_base;
    uint64_t m_size = 0;
    uint8_t* m_host = nullptr;
    unsigned m_granule_shift = 0;
    size_t m_granule_count = 0;
    std::unique_ptr<std::atomic<uint64_t>[]> m_written;
};

} // namespace spore
