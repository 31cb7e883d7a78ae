#include "ops/guest_link.h"

#include <sys/socket.h>

#include <algorithm>
#include <cstring>

#include "common/log.h"
#include "vmm/devices/vsock.h"

namespace spore {

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

Result<UniqueFd> connect_agent(Machine& machine, const ConsoleLog& console, SteadyClock::time_point deadline)
{
    for (;;) {
        if (auto stop = machine.wait_until(SteadyClock::now()))
            return machine_stopped_error(*stop, console);
        auto remaining = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - SteadyClock::now());
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
    return Error::timeout("guest agent did not answer within the boot timeout (console log: " + console.path() +
                          ")");
}

Result<exec::ExitStatus> watch_exchange(Machine& machine, const ConsoleLog& console, int connection,
                                        const std::function<Result<exec::ExitStatus>()>& exchange)
{
    machine.set_stop_hook([connection] { shutdown(connection, SHUT_RDWR); });
    auto status = exchange();
    machine.set_stop_hook({});
    if (!status) {
        if (auto stop = machine.wait_until(SteadyClock::now()))
            return machine_stopped_error(*stop, console);
    }
    return status;
}

CaptureTrigger::CaptureTrigger(int signal_number) : m_signal(signal_number)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, m_signal);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
    m_thread = std::thread([this] { wait_for_signal(); });
}

CaptureTrigger::~CaptureTrigger()
{
    // Wake the waiting thread with its own signal; m_finished tells it this
    // one is not a capture request.
    m_finished = true;
    pthread_kill(m_thread.native_handle(), m_signal);
    m_thread.join();
}

void CaptureTrigger::set_connection(int fd)
{
    m_connection = fd;
    if (m_fired && fd >= 0)
        shutdown(fd, SHUT_RDWR);
}

void CaptureTrigger::wait_for_signal()
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, m_signal);
    timespec tick{0, 100'000'000};
    while (!m_finished) {
        if (sigtimedwait(&set, nullptr, &tick) != m_signal || m_finished)
            continue;
        log::debug("capture", "signal %d received", m_signal);
        m_fired = true;
        int fd = m_connection.load();
        if (fd >= 0)
            shutdown(fd, SHUT_RDWR);
        return;
    }
}

Result<int> parse_signal_name(const std::string& name)
{
    std::string bare = name.starts_with("SIG") ? name.substr(3) : name;
    const std::pair<const char*, int> known[] = {{"USR1", SIGUSR1}, {"USR2", SIGUSR2}, {"TERM", SIGTERM},
                                                 {"INT", SIGINT},   {"HUP", SIGHUP},   {"QUIT", SIGQUIT}};
    for (auto [candidate, number] : known) {
        if (bare == candidate)
            return number;
    }
    return Error::invalid("--capture-on: unsupported signal " + name + " (use USR1, USR2, TERM, INT, HUP or QUIT)");
}

} // namespace spore
