// Capture and restore of a Machine: the parts of design §2 to §4 that turn
// a running VM into a manifest plus chunks, and back.

#include <sys/utsname.h>
#include <unistd.h>

#include <cinttypes>
#include <ctime>

#include "arch/aarch64/board.h"
#include "common/hex_value.h"
#include "common/log.h"
#include "spore/backing_file.h"
#include "spore/chunk_store.h"
#include "spore/memory_image.h"
#include "virtio/mmio_transport.h"
#include "vmm/devices/console.h"
#include "vmm/devices/generation.h"
#include "vmm/devices/rng.h"
#include "vmm/devices/vsock.h"
#include "vmm/gic_state.h"
#include "vmm/machine.h"
#include "vmm/vcpu_state.h"

namespace spore {

namespace {

constexpr const char* architecture = "aarch64";
constexpr const char* backend = "kvm";

std::string utc_now()
{
    char text[32];
    std::time_t now = std::time(nullptr);
    std::tm parts{};
    gmtime_r(&now, &parts);
    std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &parts);
    return text;
}

Error host_differs(const std::string& what, const std::string& here, const std::string& spore)
{
    return Error::not_supported("host differs from the spore's platform: " + what + " is " + here +
                                " here, " + spore + " in the spore");
}

// The parts of the platform contract that need no VM.
Result<void> check_static_contract(const PlatformContract& platform)
{
    if (platform.architecture != architecture)
        return host_differs("architecture", architecture, platform.architecture);
    if (platform.backend != backend)
        return host_differs("backend", backend, platform.backend);
    if (platform.device_model_version != board::device_model_version)
        return host_differs("device model version", std::to_string(board::device_model_version),
                            std::to_string(platform.device_model_version));
    uint64_t frequency = kvm::host_counter_frequency();
    if (platform.counter_frequency != frequency)
        return host_differs("counter frequency", std::to_string(frequency) + " Hz",
                            std::to_string(platform.counter_frequency) + " Hz");
    if (platform.ram_base != board::ram_base)
        return host_differs("RAM base", format_hex_u64(board::ram_base), format_hex_u64(platform.ram_base));
    if (platform.vcpu_count < 1 || platform.vcpu_count > board::max_vcpus)
        return Error::not_supported("vCPU count " + std::to_string(platform.vcpu_count) +
                                    " is outside this board's 1 to " + std::to_string(board::max_vcpus));
    if (platform.ram_size < board::min_ram_size || platform.ram_size > board::max_ram_size ||
        platform.ram_size % board::ram_alignment != 0)
        return Error::not_supported("RAM size " + std::to_string(platform.ram_size) +
                                    " does not fit this board");
    return {};
}

// The CPU identification the guest sees must be the same on this host.
Result<void> check_cpu_contract(const PlatformContract& platform, const NamedValues& here)
{
    for (const auto& [name, value] : platform.cpu_identification) {
        auto found = here.find(name);
        if (found == here.end())
            return host_differs(name, "absent", value);
        if (found->second != value)
            return host_differs(name, found->second, value);
    }
    for (const auto& [name, value] : here) {
        if (!platform.cpu_identification.contains(name))
            return host_differs(name, value, "absent");
    }
    return {};
}

Result<GuestMemory> restore_ram(const RestoreConfig& config)
{
    const auto& platform = config.manifest->platform;
    const auto& index = config.manifest->memory;
    if (config.use_backing_file) {
        auto cache = BackingFileCache::open_default();
        std::string reason;
        auto backing = cache ? cache->find(index, &reason) : Result<std::optional<UniqueFd>>(cache.error());
        if (backing && *backing) {
            log::debug("restore", "RAM: mapping the local backing file privately");
            return GuestMemory::create_from_file(GuestAddress(board::ram_base), platform.ram_size, (*backing)->get());
        }
        log::debug("restore", "RAM: no usable backing file (%s); rebuilding from verified chunks",
                   backing ? reason.c_str() : backing.error().message().c_str());
    }

    auto memory = TRY(GuestMemory::create(GuestAddress(board::ram_base), platform.ram_size));
    auto ram = TRY(memory.slice(memory.base(), memory.size()));
    TRY(restore_memory(index, *config.chunks, ram));
    if (config.use_backing_file) {
        // Publish the accelerator for the next resume on this host; a failure
        // only costs speed.
        auto cache = BackingFileCache::open_default();
        auto published = cache ? cache->publish(index, ram) : Result<void>(cache.error());
        if (!published)
            log::debug("restore", "RAM: backing file not published: %s", published.error().message().c_str());
    }
    return memory;
}

Result<std::vector<uint64_t>> vcpu_mpidrs(const Manifest& manifest)
{
    std::vector<uint64_t> mpidrs;
    for (const auto& vcpu : manifest.vcpus) {
        auto found = vcpu.registers.find("MPIDR_EL1");
        if (found == vcpu.registers.end())
            return Error::invalid("vcpu " + std::to_string(vcpu.index) + " lacks MPIDR_EL1");
        mpidrs.push_back(TRY(parse_hex_u64(found->second, "MPIDR_EL1")));
    }
    return mpidrs;
}

const DeviceState* find_device(const Manifest& manifest, const char* slot)
{
    for (const auto& device : manifest.devices) {
        if (device.slot == slot)
            return &device;
    }
    return nullptr;
}

} // namespace

Result<std::unique_ptr<Machine>> Machine::restore(const RestoreConfig& config)
{
    const Manifest& manifest = *config.manifest;
    TRY(check_static_contract(manifest.platform));
    if (manifest.vcpus.size() != manifest.platform.vcpu_count)
        return Error::invalid("vCPU state does not match the vCPU count");

    auto memory = TRY(restore_ram(config));
    auto machine = TRY(create_empty(std::move(memory), config.capturable));
    machine->m_memory.take_written_granules();
    if (config.capturable)
        machine->m_memory.track_writes(manifest.memory.chunk_size);
    TRY(machine->create_vcpus(manifest.platform.vcpu_count));
    TRY(check_cpu_contract(manifest.platform, TRY(cpu_identification(machine->m_vcpus.front()->vcpu()))));
    log::debug("restore", "platform contract holds");

    TRY_CONTEXT(restore_gic_state(machine->m_vm, TRY(vcpu_mpidrs(manifest)), manifest.gic), "restore");
    TRY(machine->create_debug_uart(config.console_sink));
    TRY(machine->restore_devices(manifest));
    // Last, so that the virtual counter resumes as close as possible to
    // the moment the vCPUs run.
    for (size_t index = 0; index < manifest.vcpus.size(); index++)
        TRY_CONTEXT(restore_vcpu_state(machine->m_vcpus[index]->vcpu(), manifest.vcpus[index]), "restore");
    log::debug("restore", "vcpu, gic and device state restored");
    return machine;
}

Result<void> Machine::restore_devices(const Manifest& manifest)
{
    for (const auto& device : manifest.devices) {
        if (device.slot != "console" && device.slot != "rng" && device.slot != "vsock" && device.slot != "generation")
            return Error::invalid("unknown device slot " + device.slot);
    }
    auto restore_slot = [&](board::VirtioSlot slot, std::unique_ptr<VirtioDevice> device) -> Result<void> {
        const DeviceState* state = find_device(manifest, board::virtio_slot_name(slot));
        if (!state)
            return Error::invalid(std::string("no state for device slot ") + board::virtio_slot_name(slot));
        auto& line = m_interrupt_lines.emplace_back(make_interrupt_line(board::virtio_slot_intid(slot)));
        auto transport = TRY(VirtioMmioTransport::restore(std::move(device), m_memory, *line, *state));
        m_bus.add(board::virtio_slot_address(slot), VirtioMmioTransport::kWindowSize, *transport);
        m_transports.emplace_back(board::virtio_slot_name(slot), transport.get());
        m_devices.push_back(std::move(transport));
        return {};
    };
    TRY(restore_slot(board::VirtioSlot::Console, TRY(ConsoleDevice::create(m_console_sink))));
    TRY(restore_slot(board::VirtioSlot::Rng, TRY(RngDevice::create())));
    auto vsock = TRY(VsockDevice::create(board::guest_cid));
    m_vsock = vsock.get();
    TRY(restore_slot(board::VirtioSlot::Vsock, std::move(vsock)));

    const DeviceState* generation = find_device(manifest, "generation");
    if (!generation)
        return Error::invalid("no state for the generation device");
    return create_generation_device(&generation->device);
}

Result<void> Machine::pause_all()
{
    for (auto& runner : m_vcpus) {
        if (!runner->pause())
            return Error::guest("capture: the vm stopped before it could be paused");
    }
    return {};
}

void Machine::resume_all()
{
    for (auto& runner : m_vcpus)
        runner->resume();
}

Result<std::vector<bool>> Machine::dirty_chunks(uint64_t chunk_size)
{
    auto dirty = m_memory.take_written_granules();
    auto pages = TRY(m_vm.take_dirty_pages());
    auto page_size = static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
    dirty.resize(m_ram_size / chunk_size, false);
    for (size_t word = 0; word < pages.size(); word++) {
        for (uint64_t bits = pages[word]; bits != 0; bits &= bits - 1) {
            uint64_t page = word * 64 + static_cast<uint64_t>(__builtin_ctzll(bits));
            dirty[page * page_size / chunk_size] = true;
        }
    }
    return dirty;
}

Result<Manifest> Machine::capture(ChunkStore& store)
{
    if (!m_capturable)
        return Error::not_supported("capture: this vm was not started for capture");
    TRY(pause_all());
    for (size_t index = 0; index < m_transports.size(); index++) {
        auto quiet = m_transports[index].second->quiesce();
        if (!quiet) {
            for (size_t undo = 0; undo < index; undo++)
                (void)m_transports[undo].second->resume();
            resume_all();
            return quiet.error().with_context("capture: " + m_transports[index].first);
        }
    }

    Manifest manifest;
    manifest.created_at = utc_now();
    auto& platform = manifest.platform;
    platform.architecture = architecture;
    platform.backend = backend;
    platform.device_model_version = board::device_model_version;
    platform.counter_frequency = kvm::host_counter_frequency();
    platform.vcpu_count = static_cast<uint32_t>(m_vcpus.size());
    platform.ram_base = board::ram_base;
    platform.ram_size = m_ram_size;
    platform.cpu_identification = TRY(cpu_identification(m_vcpus.front()->vcpu()));

    std::vector<uint64_t> mpidrs;
    for (auto& runner : m_vcpus) {
        manifest.vcpus.push_back(TRY(save_vcpu_state(runner->vcpu())));
        mpidrs.push_back(TRY(runner->vcpu().system_register(kvm::registers::mpidr_el1)));
    }
    manifest.gic = TRY(save_gic_state(m_vm, mpidrs));
    for (auto& [slot, transport] : m_transports)
        manifest.devices.push_back(TRY(transport->save_state(slot)));
    manifest.devices.push_back(DeviceState{"generation", 0, {}, m_generation->save_state()});

    uint64_t chunk_size = m_baseline ? m_baseline->chunk_size : kDefaultChunkSize;
    auto dirty = TRY(dirty_chunks(chunk_size));
    auto ram = TRY(m_memory.slice(m_memory.base(), m_memory.size()));
    m_memory.take_written_granules(); // the slice above is a read
    manifest.memory = TRY(capture_memory(ram, chunk_size, dirty, m_baseline ? &*m_baseline : nullptr, store,
                                         m_baseline_store.get()));
    log::debug("capture", "%zu of %zu chunks dirty", static_cast<size_t>(std::count(dirty.begin(), dirty.end(), true)),
               dirty.size());

    auto cache = BackingFileCache::open_default();
    auto published = cache ? cache->publish(manifest.memory, ram) : Result<void>(cache.error());
    if (!published)
        log::debug("capture", "RAM backing file not published: %s", published.error().message().c_str());
    return manifest;
}

Result<void> Machine::resume_after_capture()
{
    for (auto& [slot, transport] : m_transports)
        TRY_CONTEXT(transport->resume(), "resume " + slot);
    resume_all();
    return {};
}

void Machine::set_memory_baseline(MemoryIndex index, std::unique_ptr<ChunkStore> store)
{
    m_baseline = std::move(index);
    m_baseline_store = std::move(store);
}

} // namespace spore
