#pragma once

#include <atomic>
#include <chrono>
#include <csignal>
#include <functional>
#include <thread>

#include "common/error.h"
#include "common/unique_fd.h"
#include "exec/client.h"
#include "ops/console_log.h"
#include "vmm/machine.h"

namespace spore {

using SteadyClock = std::chrono::steady_clock;

// Describes why the machine stopped before the command finished.
Error machine_stopped_error(const MachineStop& stop, const ConsoleLog& console);

// Connects to the guest agent, retrying while the guest boots or resumes:
// until the agent listens, the guest answers a connection with a reset.
Result<UniqueFd> connect_agent(Machine& machine, const ConsoleLog& console, SteadyClock::time_point deadline);

// Runs one exchange with the agent over connection while watching the
// machine: if the VM stops meanwhile, the connection is shut down so the
// exchange returns, and the stop reason becomes the error.
Result<exec::ExitStatus> watch_exchange(Machine& machine, const ConsoleLog& console, int connection,
                                        const std::function<Result<exec::ExitStatus>()>& exchange);

// Waits for one host signal on a thread of its own and then shuts the
// current agent connection down, so that the exchange on the main thread
// returns and the main thread can capture. Construct it before any other
// thread starts: it blocks the signal in the calling thread, and threads
// started later inherit that.
class CaptureTrigger {
public:
    explicit CaptureTrigger(int signal_number);
    CaptureTrigger(const CaptureTrigger&) = delete;
    CaptureTrigger& operator=(const CaptureTrigger&) = delete;
    ~CaptureTrigger();

    // The connection to shut down when the signal arrives; -1 for none.
    void set_connection(int fd);
    bool fired() const { return m_fired; }

private:
    void wait_for_signal();

    int m_signal;
    std::atomic<int> m_connection{-1};
    std::atomic<bool> m_fired{false};
    std::atomic<bool> m_finished{false};
    std::thread m_thread;
};

// Parses a signal name such as USR1, SIGUSR2 or TERM.
Result<int> parse_signal_name(const std::string& name);

} // namespace spore
