// Fuzzes the split virtqueue: the input becomes the queue layout and the
// contents of guest RAM, and every chain the queue accepts is read, written
// and returned. ASan catches any access outside RAM.
//
// The same input then edits a valid saved virtio-mmio transport state (as a
// hostile manifest would) before restoring it: whatever restore accepts
// must capture again and restore again.

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "common/hex_value.h"
#include "virtio/mmio_transport.h"
#include "virtio/queue.h"

namespace {

using spore::GuestAddress;
using spore::GuestMemory;

// A small RAM above a nonzero base, so that addresses below RAM exist too.
constexpr GuestAddress kRamBase{0x10000};
constexpr uint64_t kRamSize = 16 * 1024;
constexpr uint16_t kMaxQueueSize = 256;

struct Header {
    uint16_t size;
    uint16_t descriptor_offset;
    uint16_t avail_offset;
    uint16_t used_offset;
    uint16_t max_chain_length;
    uint16_t write_offset;
};

GuestMemory& ram()
{
    static GuestMemory* memory = [] {
        auto created = GuestMemory::create(kRamBase, kRamSize);
        if (!created) {
            std::fprintf(stderr, "%s\n", created.error().message().c_str());
            std::abort();
        }
        return new GuestMemory(std::move(created).value());
    }();
    return *memory;
}

// Offsets reach a little past RAM so that ring range checks are exercised.
GuestAddress ring_address(uint16_t offset)
{
    return kRamBase + offset % (kRamSize + 512);
}

void use_chain(GuestMemory& memory, spore::Queue& queue, const spore::DescriptorChain& chain,
    uint16_t write_offset)
{
    auto bytes = chain.read_all(memory, 64 * 1024);
    if (!bytes)
        std::abort(); // a validated chain must always be readable
    std::vector<uint8_t> reply(write_offset % 64, 0xa5);
    (void)chain.write_at(memory, write_offset % 128, reply);
    (void)queue.add_used(chain.head(), static_cast<uint32_t>(chain.writable_length()));
}

[[noreturn]] void fail(const char* what)
{
    std::fprintf(stderr, "virtio queue fuzz: %s\n", what);
    std::abort();
}

// A device with two queues that keeps nothing but its queue positions.
class FuzzDevice final : public spore::VirtioDevice {
public:
    static constexpr uint32_t kDeviceId = 42;

    spore::VirtioDeviceInfo info() const override
    {
        return {.device_id = kDeviceId,
            .features = spore::kVirtioFeatureVersion1 | 1,
            .queue_count = 2,
            .max_queue_size = 16};
    }
    void read_config(uint64_t, std::span<uint8_t> data) const override
    {
        std::fill(data.begin(), data.end(), 0);
    }
    void write_config(uint64_t, std::span<const uint8_t>) override { }
    spore::Result<void> activate(spore::VirtioActivation activation) override
    {
        m_queues = std::move(activation.queues);
        return {};
    }
    void queue_notify(uint16_t) override { }
    void reset() override { m_queues.clear(); }
    spore::Result<void> quiesce() override { return {}; }
    spore::Result<void> resume() override { return {}; }
    std::vector<spore::QueuePosition> queue_positions() const override
    {
        return spore::positions_of(m_queues);
    }
    spore::Result<spore::NamedValues> save_state() const override { return spore::NamedValues{}; }
    spore::Result<void> restore_state(const spore::NamedValues& values) override
    {
        if (!values.empty())
            return spore::Error::invalid("device field: unknown");
        return {};
    }

private:
    std::vector<spore::Queue> m_queues;
};

class NullLine final : public spore::InterruptLine {
public:
    void set_level(bool) override { }
};

// A state the transport itself could have saved: both queues live at
// 16 entries in the first 2 KiB of RAM, at the used index RAM holds.
spore::NamedValues valid_transport_fields(const GuestMemory& memory)
{
    using spore::format_hex_u32;
    using spore::format_hex_u64;
    spore::NamedValues fields{
        {"status", format_hex_u32(0x0f)},
        {"device_features_select", format_hex_u32(0)},
        {"driver_features_select", format_hex_u32(1)},
        {"driver_features", format_hex_u64(spore::kVirtioFeatureVersion1)},
        {"queue_select", format_hex_u32(1)},
        {"interrupt_status", format_hex_u32(1)},
    };
    for (uint64_t index = 0; index < 2; index++) {
        GuestAddress rings = kRamBase + 0x400 * index;
        GuestAddress used = rings + 0x200;
        auto used_index = memory.load_u16_acquire(used + 2);
        if (!used_index)
            fail("used ring outside RAM");
        auto prefix = "queue." + std::to_string(index) + ".";
        fields[prefix + "size"] = format_hex_u32(16);
        fields[prefix + "ready"] = format_hex_u32(1);
        fields[prefix + "descriptor_table"] = format_hex_u64(rings.value);
        fields[prefix + "avail_ring"] = format_hex_u64((rings + 0x100).value);
        fields[prefix + "used_ring"] = format_hex_u64(used.value);
        fields[prefix + "next_avail"] = format_hex_u32(*used_index);
        fields[prefix + "next_used"] = format_hex_u32(*used_index);
    }
    return fields;
}

// Names an edit may touch: every real field, and a few that are not.
std::string field_name(const spore::NamedValues& fields, uint8_t selector)
{
    static const char* const kBogus[] = {"queue.2.size", "", "status ", "queue.0.size.x"};
    constexpr size_t kBogusCount = sizeof kBogus / sizeof kBogus[0];
    size_t index = selector % (fields.size() + kBogusCount);
    if (index >= fields.size())
        return kBogus[index - fields.size()];
    auto it = fields.begin();
    std::advance(it, index);
    return it->first;
}

// Records of 10 bytes: an operation, a field selector and 8 value bytes.
void edit_fields(spore::NamedValues& fields, const uint8_t* data, size_t size)
{
    for (; size >= 10; data += 10, size -= 10) {
        uint64_t value;
        std::memcpy(&value, data + 2, sizeof value);
        std::string name = field_name(fields, data[1]);
        switch (data[0] % 5) {
        case 0:
            fields[name] = spore::format_hex_u32(static_cast<uint32_t>(value));
            break;
        case 1:
            fields[name] = spore::format_hex_u64(value);
            break;
        case 2:
            fields.erase(name);
            break;
        case 3:
            fields[name] = std::string(reinterpret_cast<const char*>(data + 2), 8);
            break;
        case 4: // small values are where the interesting limits are
            fields[name] = spore::format_hex_u32(static_cast<uint32_t>(value % 64));
            break;
        }
    }
}

std::unique_ptr<spore::VirtioMmioTransport> restore_or_null(
    const spore::DeviceState& state, spore::InterruptLine& line)
{
    auto restored
        = spore::VirtioMmioTransport::restore(std::make_unique<FuzzDevice>(), ram(), line, state);
    return restored ? std::move(restored).value() : nullptr;
}

void fuzz_restore(const uint8_t* data, size_t size)
{
    spore::DeviceState state{.slot = "fuzz", .device_id = FuzzDevice::kDeviceId};
    state.transport = valid_transport_fields(ram());
    if (size > 0 && data[0] == 0xff)
        state.device_id = 19;
    edit_fields(state.transport, data, size);

    NullLine line;
    auto transport = restore_or_null(state, line);
    if (!transport)
        return;
    // Whatever was accepted is a state the transport can stand behind.
    if (!transport->quiesce())
        fail("restored transport refused to quiesce");
    auto saved = transport->save_state("fuzz");
    if (!saved)
        fail("restored transport refused to save");
    transport.reset();
    if (!restore_or_null(*saved, line))
        fail("saved state of a restored transport refused");
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    Header header;
    if (size < sizeof header)
        return 0;
    std::memcpy(&header, data, sizeof header);
    data += sizeof header;
    size -= sizeof header;

    GuestMemory& memory = ram();
    (void)memory.fill(kRamBase, 0, kRamSize);
    (void)memory.write(kRamBase, std::span(data, std::min<size_t>(size, kRamSize)));

    fuzz_restore(data, size);

    spore::QueueConfig config{header.size, ring_address(header.descriptor_offset),
        ring_address(header.avail_offset), ring_address(header.used_offset)};
    auto queue = spore::Queue::create(memory, config, kMaxQueueSize, header.max_chain_length * 64u);
    if (!queue)
        return 0;

    // The avail index check bounds pops by the queue size; the loop bound
    // only guards against a bug there turning into a hang.
    for (int pops = 0; pops <= kMaxQueueSize; pops++) {
        auto chain = queue->pop();
        if (!chain || !chain->has_value())
            break;
        use_chain(memory, *queue, **chain, header.write_offset);
    }
    return 0;
}
