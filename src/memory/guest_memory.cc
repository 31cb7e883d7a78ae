#include "memory/guest_memory.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cinttypes>
#include <cstdio>
#include <utility>

namespace spore {

Result<GuestMemory> GuestMemory::create(GuestAddress base, uint64_t size)
{
    auto page = static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
    if (size == 0 || size % page != 0)
        return Error::invalid("guest memory: size is not a positive multiple of the page size");
    if (base.value + size < base.value)
        return Error::invalid("guest memory: region wraps the address space");

    void* host = mmap(
        nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (host == MAP_FAILED)
        return Error::from_errno("guest memory: mmap");
    return GuestMemory(base, size, static_cast<uint8_t*>(host));
}

Result<GuestMemory> GuestMemory::create_from_file(GuestAddress base, uint64_t size, int fd)
{
    auto page = static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
    if (size == 0 || size % page != 0)
        return Error::invalid("guest memory: size is not a positive multiple of the page size");
    void* host = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_NORESERVE, fd, 0);
    if (host == MAP_FAILED)
        return Error::from_errno("guest memory: mmap of backing file");
    return GuestMemory(base, size, static_cast<uint8_t*>(host));
}

GuestMemory::GuestMemory(GuestMemory&& other) noexcept
    : m_base(other.m_base)
    , m_size(std::exchange(other.m_size, 0))
    , m_host(std::exchange(other.m_host, nullptr))
    , m_granule_shift(other.m_granule_shift)
    , m_granule_count(std::exchange(other.m_granule_count, 0))
    , m_written(std::move(other.m_written))
{
}

void GuestMemory::track_writes(uint64_t granule_size)
{
    m_granule_shift = static_cast<unsigned>(__builtin_ctzll(granule_size));
    m_granule_count = static_cast<size_t>((m_size + granule_size - 1) >> m_granule_shift);
    m_written = std::make_unique<std::atomic<uint64_t>[]>((m_granule_count + 63) / 64);
}

std::vector<bool> GuestMemory::take_written_granules()
{
    std::vector<bool> written(m_granule_count, false);
    for (size_t word = 0; m_written && word < (m_granule_count + 63) / 64; word++) {
        uint64_t bits = m_written[word].exchange(0);
        for (unsigned bit = 0; bit < 64 && word * 64 + bit < m_granule_count; bit++)
            written[word * 64 + bit] = (bits >> bit) & 1;
    }
    return written;
}

void GuestMemory::mark_written(GuestAddress address, uint64_t length)
{
    if (!m_written || length == 0)
        return;
    uint64_t first = (address.value - m_base.value) >> m_granule_shift;
    uint64_t last = (address.value - m_base.value + length - 1) >> m_granule_shift;
    for (uint64_t granule = first; granule <= last; granule++)
        m_written[granule / 64].fetch_or(uint64_t{1} << (granule % 64), std::memory_order_relaxed);
}

GuestMemory& GuestMemory::operator=(GuestMemory&& other) noexcept
{
    if (this != &other) {
        if (m_host)
            munmap(m_host, m_size);
        m_base = other.m_base;
        m_size = std::exchange(other.m_size, 0);
        m_host = std::exchange(other.m_host, nullptr);
        m_granule_shift = other.m_granule_shift;
        m_granule_count = std::exchange(other.m_granule_count, 0);
        m_written = std::move(other.m_written);
    }
    return *this;
}

GuestMemory::~GuestMemory()
{
    if (m_host)
        munmap(m_host, m_size);
}

bool GuestMemory::contains(GuestAddress address, uint64_t length) const
{
    if (address < m_base)
        return false;
    uint64_t offset = address.value - m_base.value;
    return offset <= m_size && length <= m_size - offset;
}

Error GuestMemory::out_of_range(GuestAddress address, uint64_t length) const
{
    char message[128];
    std::snprintf(message, sizeof message,
        "guest memory: range 0x%" PRIx64 "+0x%" PRIx64 " is outside RAM", address.value, length);
    return Error::invalid(message);
}

Result<void> GuestMemory::read(GuestAddress address, std::span<uint8_t> out) const
{
    if (!contains(address, out.size()))
        return out_of_range(address, out.size());
    if (out.empty())
        return {};
    std::memcpy(out.data(), host_pointer(address), out.size());
    return {};
}

Result<void> GuestMemory::write(GuestAddress address, std::span<const uint8_t> bytes)
{
    if (!contains(address, bytes.size()))
        return out_of_range(address, bytes.size());
    if (bytes.empty())
        return {};
    mark_written(address, bytes.size());
    std::memcpy(host_pointer(address), bytes.data(), bytes.size());
    return {};
}

Result<void> GuestMemory::fill(GuestAddress address, uint8_t byte, uint64_t length)
{
    if (!contains(address, length))
        return out_of_range(address, length);
    mark_written(address, length);
    std::memset(host_pointer(address), byte, length);
    return {};
}

Result<std::span<uint8_t>> GuestMemory::slice(GuestAddress address, uint64_t length)
{
    if (!contains(address, length))
        return out_of_range(address, length);
    // A mutable view may be written: count it as written.
    mark_written(address, length);
    return std::span<uint8_t>(host_pointer(address), length);
}

Result<uint16_t> GuestMemory::load_u16_acquire(GuestAddress address) const
{
    if (!contains(address, 2))
        return out_of_range(address, 2);
    if (address.value % 2 != 0)
        return Error::invalid("guest memory: misaligned 16-bit access");
    // SAFETY: in range and naturally aligned, checked above.
    return __atomic_load_n(
        reinterpret_cast<const uint16_t*>(host_pointer(address)), __ATOMIC_ACQUIRE);
}

Result<void> GuestMemory::store_u16_release(GuestAddress address, uint16_t value)
{
    if (!contains(address, 2))
        return out_of_range(address, 2);
    if (address.value % 2 != 0)
        return Error::invalid("guest memory: misaligned 16-bit access");
    mark_written(address, 2);
    // SAFETY: in range and naturally aligned, checked above.
    __atomic_store_n(reinterpret_cast<uint16_t*>(host_pointer(address)), value, __ATOMIC_RELEASE);
    return {};
}

} // namespace spore
