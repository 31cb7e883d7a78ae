#include "vmm/vcpu_runner.h"

#include <csignal>
#include <mutex>

#include "common/log.h"

namespace spore {

namespace {

// The signal that kicks a vCPU thread out of KVM_RUN. Its handler does
// nothing: the point is that the ioctl returns EINTR. immediate_exit covers
// the window where the signal arrives just before the thread enters KVM_RUN.
int kick_signal() { return SIGRTMIN; }

void install_kick_handler()
{
    static std::once_flag once;
    std::call_once(once, [] {
        struct sigaction action {};
        action.sa_handler = [](int) {};
        sigemptyset(&action.sa_mask);
        sigaction(kick_signal(), &action, nullptr);
    });
}

} // namespace

VcpuRunner::VcpuRunner(kvm::Vcpu vcpu, MmioBus& bus, StopCallback on_stop)
    : m_vcpu(std::move(vcpu)), m_bus(bus), m_on_stop(std::move(on_stop))
{
    install_kick_handler();
}

VcpuRunner::~VcpuRunner()
{
    stop();
    join();
}

void VcpuRunner::start()
{
    m_thread = std::thread([this] { thread_main(); });
}

void VcpuRunner::kick()
{
    m_vcpu.request_immediate_exit(true);
    if (m_thread_ready)
        pthread_kill(m_native_handle, kick_signal());
}

void VcpuRunner::stop()
{
    m_stop_requested = true;
    kick();
    m_park_changed.notify_all();
}

bool VcpuRunner::pause()
{
    m_pause_requested = true;
    kick();
    std::unique_lock guard(m_park_lock);
    m_park_changed.wait(guard, [this] { return m_parked || m_finished; });
    return m_parked;
}

void VcpuRunner::resume()
{
    {
        std::lock_guard guard(m_park_lock);
        m_pause_requested = false;
    }
    m_park_changed.notify_all();
}

void VcpuRunner::join()
{
    if (m_thread.joinable())
        m_thread.join();
    // The thread handle is dead after join; stop() must not signal it.
    m_thread_ready = false;
}

void VcpuRunner::thread_main()
{
    m_native_handle = pthread_self();
    m_thread_ready = true;
    // A stop() that raced with thread start saw m_thread_ready false and
    // only set immediate_exit, which KVM_RUN honours.
    State state = State::Running;
    while (state != State::Finished)
        state = state == State::Running ? running() : paused();

    std::lock_guard guard(m_park_lock);
    m_finished = true;
    m_park_changed.notify_all();
}

VcpuRunner::State VcpuRunner::paused()
{
    std::unique_lock guard(m_park_lock);
    m_parked = true;
    m_park_changed.notify_all();
    m_park_changed.wait(guard, [this] { return !m_pause_requested || m_stop_requested; });
    m_parked = false;
    if (m_stop_requested)
        return State::Running; // running() reports the stop
    m_vcpu.request_immediate_exit(false);
    return State::Running;
}

VcpuRunner::State VcpuRunner::running()
{
    if (m_stop_requested) {
        m_on_stop(m_vcpu.index(), VcpuStop::Requested, nullptr);
        return State::Finished;
    }
    if (m_pause_requested) {
        // With immediate_exit set, KVM_RUN completes a pending MMIO read
        // into the guest's register and returns at once, so the parked
        // state holds no half-done access.
        m_vcpu.request_immediate_exit(true);
        auto exit = m_vcpu.run();
        if (!exit) {
            m_on_stop(m_vcpu.index(), VcpuStop::Fault, &exit.error());
            return State::Finished;
        }
        return State::Paused;
    }
    auto exit = m_vcpu.run();
    if (!exit) {
        m_on_stop(m_vcpu.index(), VcpuStop::Fault, &exit.error());
        return State::Finished;
    }
    auto stop = serve(*exit);
    if (!stop)
        return State::Running;
    m_on_stop(m_vcpu.index(), *stop, m_fault ? &*m_fault : nullptr);
    return State::Finished;
}

// Handles one exit; returns why the vCPU must stop, or nothing to go on.
std::optional<VcpuStop> VcpuRunner::serve(const kvm::VcpuExit& exit)
{
    switch (exit.kind) {
    case kvm::ExitKind::MmioRead: {
        std::array<uint8_t, 8> data{};
        m_bus.read(exit.address, std::span(data.data(), exit.length));
        m_vcpu.complete_mmio_read(std::span(data.data(), exit.length));
        return std::nullopt;
    }
    case kvm::ExitKind::MmioWrite:
        m_bus.write(exit.address, std::span(exit.data.data(), exit.length));
        return std::nullopt;
    case kvm::ExitKind::Interrupted:
        return std::nullopt;
    case kvm::ExitKind::SystemOff:
        return VcpuStop::PowerOff;
    case kvm::ExitKind::SystemReset:
        return VcpuStop::Reset;
    case kvm::ExitKind::Unexpected:
        break;
    }
    m_fault = Error::guest("vcpu " + std::to_string(m_vcpu.index()) + ": unexpected KVM exit reason " +
                           std::to_string(exit.reason));
    return VcpuStop::Fault;
}

} // namespace spore
