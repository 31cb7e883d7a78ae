#include "ops/run.h"

#include <sys/random.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <optional>

#include "boot/boot_assets.h"
#include "common/log.h"
#include "common/sha256.h"
#include "exec/client.h"
#include "guest/embedded_initrd.h"
#include "ops/capture.h"
#include "ops/console_log.h"
#include "ops/guest_link.h"
#include "spore/chunk_store.h"
#include "spore/identity.h"
#include "spore/spore_directory.h"
#include "vmm/machine.h"

namespace spore {

namespace {

// Phase durations of one run: logged under --debug, and printed as one
// machine-readable line on stderr when SPOREVM_TIMINGS is set (bench/
// reads it).
class PhaseTimer {
public:
    void mark(const char* phase)
    {
        auto now = SteadyClock::now();
        double milliseconds = std::chrono::duration<double, std::milli>(now - m_last).count();
        m_last = now;
        log::debug("run", "%s phase took %.1f ms", phase, milliseconds);
        char field[64];
        std::snprintf(field, sizeof field, " %s_ms=%.1f", phase, milliseconds);
        m_line += field;
    }
    void report() const
    {
        // total_ms spans the whole process so far, from its first static
        // initializer: the phases plus what lies between them.
        if (std::getenv("SPOREVM_TIMINGS"))
            std::fprintf(stderr, "spore-timings:%s total_ms=%.1f\n", m_line.c_str(), log::elapsed_ms());
    }

private:
    SteadyClock::time_point m_last = SteadyClock::now();
    std::string m_line;
};

Result<std::unique_ptr<Machine>> boot_machine(const RunOptions& options, ConsoleLog& console, PhaseTimer& timer)
{
    auto kernel = TRY(options.kernel ? load_kernel_override(*options.kernel)
                                     : load_managed_kernel(managed_kernel_directory()));
    std::vector<uint8_t> initrd_file;
    std::span<const uint8_t> initrd = embedded_initrd();
    if (options.initrd) {
        initrd_file = TRY(load_initrd(*options.initrd));
        initrd = initrd_file;
    }
    log::debug("run", "kernel %s (%zu bytes), initrd %zu bytes", kernel.path.c_str(), kernel.image.size(),
               initrd.size());
    timer.mark("assets");

    MachineConfig config;
    config.vcpu_count = options.cpus;
    config.ram_size = options.memory;
    config.kernel = &kernel;
    config.initrd = initrd;
    config.verbose_kernel = options.verbose_kernel;
    config.console_sink = [&console](std::string_view text) { console.append(text); };
    config.capturable = options.capture.has_value();
    auto machine = TRY(Machine::create(config));
    timer.mark("setup");
    return machine;
}

// Restores a spore into a machine whose later captures start from it.
Result<std::unique_ptr<Machine>> restore_machine(SporeReader& reader, ConsoleLog& console, bool capturable)
{
    const std::string& path = reader.path();
    const Manifest& manifest = reader.manifest();
    if (manifest.agent.protocol_version != exec::kProtocolVersion)
        return Error::not_supported(path + ": its guest agent speaks exec protocol version " +
                                    std::to_string(manifest.agent.protocol_version) + ", this spore speaks " +
                                    std::to_string(exec::kProtocolVersion));
    RestoreConfig config;
    config.manifest = &manifest;
    config.chunks = &reader.chunks();
    config.console_sink = [&console](std::string_view text) { console.append(text); };
    config.capturable = capturable;
    auto machine = TRY_CONTEXT(Machine::restore(config), path);
    auto chunks = TRY(ChunkStore::open(path + "/chunks", false));
    machine->set_memory_baseline(manifest.memory, std::make_unique<ChunkStore>(std::move(chunks)));
    return machine;
}

Result<exec::ExitStatus> attach(Machine& machine, const ConsoleLog& console, exec::SessionProgress& progress,
                                SteadyClock::time_point deadline, CaptureTrigger* trigger,
                                std::optional<exec::GenerationParameters> generation)
{
    auto connection = TRY(connect_agent(machine, console, deadline));
    if (trigger)
        trigger->set_connection(connection.get());
    exec::AttachRequest request{progress.session_id, progress.stdout_offset, progress.stderr_offset,
                                {exec::wall_clock_ns(), std::move(generation)}};
    auto status = watch_exchange(machine, console, connection.get(), [&] {
        return exec::attach_remote_session(connection.get(), request, STDOUT_FILENO, STDERR_FILENO, std::nullopt,
                                           &progress);
    });
    if (trigger)
        trigger->set_connection(-1);
    return status;
}

// Presents a new instance of identity to the guest: through the
// generation device now, and in-band with the next request (returned).
Result<exec::GenerationParameters> present_instance(Machine& machine, const Identity& identity)
{
    std::array<uint8_t, 32> entropy;
    if (getrandom(entropy.data(), entropy.size(), 0) != static_cast<ssize_t>(entropy.size()))
        return Error::from_errno("generation: getrandom");
    std::string json = generation_parameters_json(identity, entropy, exec::wall_clock_ns());
    TRY(machine.present_generation(identity.generation, json));
    return exec::parse_generation_parameters(json);
}

RunningSession running_session(const exec::SessionProgress& progress)
{
    return RunningSession{progress.session_id, progress.stdout_offset, progress.stderr_offset};
}

} // namespace

Result<int> run_command(const RunOptions& options)
{
    if (options.argv.empty())
        return Error::invalid("run: no command given");
    if ((options.capture_signal || options.continue_after_capture) && !options.capture)
        return Error::invalid("run: --capture-on and --continue-after-capture need --capture DIR");

    PhaseTimer timer;
    // Before any thread exists, so every thread inherits the blocked signal.
    std::optional<CaptureTrigger> trigger;
    if (options.capture_signal)
        trigger.emplace(*options.capture_signal);

    auto console = TRY(ConsoleLog::create(options.console_log));
    Identity identity = new_identity();
    std::unique_ptr<Machine> machine;
    if (options.from) {
        DigestSetupInBackground digests;
        auto reader = TRY(SporeReader::open(*options.from));
        identity = reader.manifest().identity;
        machine = TRY(restore_machine(reader, console, options.capture.has_value()));
        timer.mark("restore");
    } else {
        machine = TRY(boot_machine(options, console, timer));
    }
    auto generation = TRY(present_instance(*machine, identity));
    TRY(machine->start());
    auto connection = TRY(connect_agent(*machine, console, SteadyClock::now() + options.boot_timeout));
    timer.mark(options.from ? "resume" : "boot");

    exec::ExecRequest request{options.argv, options.environment, options.working_directory,
                              {exec::wall_clock_ns(), generation}};
    exec::SessionProgress progress;
    if (trigger)
        trigger->set_connection(connection.get());
    auto status = watch_exchange(*machine, console, connection.get(), [&] {
        return exec::run_remote_command(connection.get(), request, STDOUT_FILENO, STDERR_FILENO, std::nullopt,
                                        &progress);
    });
    if (trigger)
        trigger->set_connection(-1);

    if (trigger && trigger->fired() && !status && !progress.session_id.empty()) {
        TRY(capture_machine(*machine, *options.capture, {running_session(progress)}, identity));
        timer.mark("capture");
        if (!options.continue_after_capture) {
            machine->stop();
            timer.report();
            console.finish_successfully();
            return 0;
        }
        TRY(machine->resume_after_capture());
        status = attach(*machine, console, progress, SteadyClock::now() + options.boot_timeout, nullptr,
                        std::nullopt);
    }
    if (!status)
        return status.release_error();
    timer.mark("command");

    if (options.capture && !options.capture_signal) {
        TRY(capture_machine(*machine, *options.capture, {}, identity));
        timer.mark("capture");
    }
    machine->stop();
    timer.report();
    log::debug("run", "command exited with %u", status->code);
    console.finish_successfully();
    return static_cast<int>(status->code);
}

Result<int> resume_spore(const std::string& path, std::chrono::seconds timeout, std::optional<std::string> console_log)
{
    PhaseTimer timer;
    DigestSetupInBackground digests;
    auto console = TRY(ConsoleLog::create(console_log));
    auto reader = TRY(SporeReader::open(path));
    if (reader.manifest().running_sessions.empty())
        return Error::invalid("resume: " + path +
                              " was captured with no command running; use spore run --from DIR -- CMD");
    auto session = reader.manifest().running_sessions.front();

    auto machine = TRY(restore_machine(reader, console, false));
    timer.mark("restore");
    auto generation = TRY(present_instance(*machine, reader.manifest().identity));
    TRY(machine->start());
    exec::SessionProgress progress{session.session_id, session.stdout_offset, session.stderr_offset, 0};
    auto status = TRY(attach(*machine, console, progress, SteadyClock::now() + timeout, nullptr, generation));
    timer.mark("command");
    machine->stop();
    timer.report();
    console.finish_successfully();
    return static_cast<int>(status.code);
}

} // namespace spore
