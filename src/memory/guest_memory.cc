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

GuestMemory::GuestMemory(GuestMemory&& other) noexcept
    : m_base(other.m_base)
    , m_size(std::exchange(other.m_size, 0))
    , m_host(std::exchange(other.m_host, nullptr))
{
}

GuestMemory& GuestMemory::operator=(GuestMemory&& other) noexcept
{
    if (this != &other) {
        if (m_host)
            munmap(m_host, m_size);
        m_base = other.m_base;
        m_size = std::exchange(other.m_size, 0);
        m_host = std::exchange(other.m_host, nullptr);
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
    std::memcpy(host_pointer(address), bytes.data(), bytes.size());
    return {};
}

Result<void> GuestMemory::fill(GuestAddress address, uint8_t byte, uint64_t length)
{
    if (!contains(address, length))
        return out_of_range(address, length);
    std::memset(host_pointer(address), byte, length);
    return {};
}

Result<std::span<uint8_t>> GuestMemory::slice(GuestAddress address, uint64_t length)
{
    if (!contains(address, length))
        return out_of_range(address, length);
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
    // SAFETY: in range and naturally aligned, checked above.
    __atomic_store_n(reinterpret_cast<uint16_t*>(host_pointer(address)), value, __ATOMIC_RELEASE);
    return {};
}

} // namespace spore
