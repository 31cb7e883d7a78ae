#include "ops/run.h"

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>

#include "boot/boot_assets.h"
#include "common/log.h"
#include "guest/embedded_initrd.h"
#include "exec/client.h"
#include "ops/console_log.h"
#include "vmm/devices/vsock.h"
#include "vmm/machine.h"

namespace spore {

namespace {

using Clock = std::chrono::steady_clock;

// Phase durations of one run: logged under --debug, and printed as one
// machine-readable line on stderr when SPOREVM_TIMINGS is set (bench/
// reads it).
class PhaseTimer {
public:
    void mark(const char* phase)
    {
        auto now = Clock::now();
        double milliseconds = std::chrono::duration<double, std::milli>(now - m_last).count();
        m_last = now;
        log::debug("run", "%s phase took %.1f ms", phase, milliseconds);
        char field[64];
        std::snprintf(field, sizeof field, " %s_ms=%.1f", phase, milliseconds);
        m_line += field;
    }
    void report() const
    {
        if (std::getenv("SPOREVM_TIMINGS"))
            std::fprintf(stderr, "spore-timings:%s\n", m_line.c_str());
    }

private:
    Clock::time_point m_last = Clock::now();
    std::string m_line;
};

Result<GuestKernel> load_kernel(const RunOptions& options)
{
    if (options.kernel)
        return load_kernel_override(*options.kernel);
    return load_managed_kernel(managed_kernel_directory());
}

// Describes why the machine stopped before the command finished.
Error machine_stopped_error(const MachineStop& stop, const ConsoleLog& console)
{
    std::string where = " (console log: " + console.path() + ")";
    switch (stop.reason) {
    case VcpuStop::PowerOff:
        return Error::guest("guest powered off before the command finished" + where);
    case VcpuStop::Reset:
        return Error::guest("guest reset, most likely a kernel panic: " + console.last_line() + where);
    case VcpuStop::Fault:
        return stop.fault ? stop.fault->with_context("vm failed") : Error::guest("vm failed" + where);
    case VcpuStop::Requested:
        break;
    }
    return Error::guest("vm stopped" + where);
}

// Connects to the agent, retrying while the guest boots: until the agent
// listens, the guest answers a connection request with a reset.
Result<UniqueFd> connect_agent(Machine& machine, const ConsoleLog& console, Clock::time_point deadline)
{
    for (;;) {
        if (auto stop = machine.wait_until(Clock::now()))
            return machine_stopped_error(*stop, console);
        auto remaining = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
        if (remaining.count() <= 0)
            break;
        // Short attempts, so a guest that died while booting is noticed at
        // once rather than at the deadline.
        auto attempt = std::min(remaining, std::chrono::milliseconds(200));
        auto connection = machine.vsock().connect(exec::kAgentPort, attempt);
        if (connection)
            return connection;
        if (connection.error().code() != ErrorCode::NotFound && connection.error().code() != ErrorCode::Timeout)
            return connection.release_error();
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return Error::timeout("guest agent did not answer within the boot timeout (console log: " +
                          console.path() + ")");
}

} // namespace

Result<int> run_command(const RunOptions& options)
{
    if (options.argv.empty())
        return Error::invalid("run: no command given");
    PhaseTimer timer;
    auto kernel = TRY(load_kernel(options));
    std::vector<uint8_t> initrd_file;
    std::span<const uint8_t> initrd = embedded_initrd();
    if (options.initrd) {
        initrd_file = TRY(load_initrd(*options.initrd));
        initrd = initrd_file;
    }
    log::debug("run", "kernel %s (%zu bytes), initrd %zu bytes", kernel.path.c_str(), kernel.image.size(),
               initrd.size());
    timer.mark("assets");

    auto console = TRY(ConsoleLog::create(options.console_log));
    MachineConfig config;
    config.vcpu_count = options.cpus;
    config.ram_size = options.memory;
    config.kernel = &kernel;
    config.initrd = initrd;
    config.verbose_kernel = options.verbose_kernel;
    config.console_sink = [&console](std::string_view text) { console.append(text); };

    auto machine = TRY(Machine::create(config));
    TRY(machine->start());
    timer.mark("setup");
    auto connection = TRY(connect_agent(*machine, console, Clock::now() + options.boot_timeout));
    timer.mark("boot");

    // If the guest dies mid-command, unblock the exec client by shutting the
    // connection down; the stop reason then explains what happened.
    std::atomic<bool> finished{false};
    std::thread watchdog([&] {
        while (!finished) {
            if (machine->wait_until(Clock::now() + std::chrono::milliseconds(100))) {
                shutdown(connection.get(), SHUT_RDWR);
                return;
            }
        }
    });
    exec::ExecRequest request{options.argv, options.environment, options.working_directory};
    auto status = exec::run_remote_command(connection.get(), request, STDOUT_FILENO, STDERR_FILENO);
    finished = true;
    watchdog.join();

    if (!status) {
        if (auto stop = machine->wait_until(Clock::now()))
            return machine_stopped_error(*stop, console);
        return status.release_error();
    }
    timer.mark("command");
    machine->stop();
    timer.report();
    log::debug("run", "command exited with %u", status->code);
    console.finish_successfully();
    return static_cast<int>(status->code);
}

} // namespace spore
