#include "guest/agent/supervisor.h"

#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/vm_sockets.h>

#include <cerrno>
#include <set>

#include "exec/protocol.h"
#include "guest/agent/session.h"

namespace spore::agent {
namespace {

constexpr int kListenBacklog = 16;

// Pause after an unexpected accept() failure, so a persistent one does not spin PID 1.
constexpr timespec kAcceptBackoff{0, 10'000'000};

class Supervisor {
public:
    Supervisor(int listen_fd, UniqueFd child_signals)
        : m_listen_fd(listen_fd)
        , m_child_signals(std::move(child_signals))
    {
    }

    Result<void> run()
    {
        while (true) {
            pollfd entries[2] = {{m_child_signals.get(), POLLIN, 0}, {m_listen_fd, POLLIN, 0}};
            if (::poll(entries, 2, -1) < 0) {
                if (errno == EINTR)
                    continue;
                return Error::from_errno("spore-agent: poll");
            }
            if (entries[0].revents)
                reap();
            if (entries[1].revents)
                accept_one();
        }
    }

private:
    void reap()
    {
        signalfd_siginfo info;
        while (::read(m_child_signals.get(), &info, sizeof info) == sizeof info) { }
        // One SIGCHLD may stand for many exits, so reap until none is left.
        pid_t pid;
        int status;
        while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
            m_sessions.erase(pid);
    }

    void accept_one()
    {
        UniqueFd connection(accept4(m_listen_fd, nullptr, nullptr, SOCK_CLOEXEC));
        if (!connection.valid()) {
            if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
                nanosleep(&kAcceptBackoff, nullptr);
            return;
        }
        if (m_sessions.size() >= kMaxSessions) {
            refuse(connection.get(),
                "exec: too many sessions, limit is " + std::to_string(kMaxSessions));
            return;
        }

        pid_t pid = fork();
        if (pid == 0)
            run_session(connection.get());
        if (pid < 0)
            refuse(connection.get(), Error::from_errno("spore-agent: fork").message());
        else
            m_sessions.insert(pid);
    }

    // PID 1 must never block on a peer, so the refusal is sent only if it fits right away.
    static void refuse(int connection_fd, const std::string& message)
    {
        auto frame = exec::encode_error(message);
        ::send(connection_fd, frame.data(), frame.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
    }

    // Runs in the forked session process and never returns.
    [[noreturn]] void run_session(int connection_fd)
    {
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, nullptr);
        close(m_listen_fd);
        m_child_signals.reset();
        _exit(serve_exec_session(connection_fd).has_value() ? 0 : 1);
    }

    int m_listen_fd;
    UniqueFd m_child_signals;
    std::set<pid_t> m_sessions;
};

// SIGCHLD stays blocked and arrives through a descriptor the accept loop polls.
Result<UniqueFd> child_signal_fd()
{
    sigset_t child;
    sigemptyset(&child);
    sigaddset(&child, SIGCHLD);
    if (sigprocmask(SIG_BLOCK, &child, nullptr) != 0)
        return Error::from_errno("spore-agent: sigprocmask");
    UniqueFd fd(signalfd(-1, &child, SFD_CLOEXEC | SFD_NONBLOCK));
    if (!fd.valid())
        return Error::from_errno("spore-agent: signalfd");
    return fd;
}

} // namespace

Result<UniqueFd> listen_vsock(uint32_t port)
{
    UniqueFd fd(socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!fd.valid())
        return Error::from_errno("spore-agent: vsock socket");
    sockaddr_vm address{};
    address.svm_family = AF_VSOCK;
    address.svm_port = port;
    address.svm_cid = VMADDR_CID_ANY;
    if (bind(fd.get(), reinterpret_cast<sockaddr*>(&address), sizeof address) != 0)
        return Error::from_errno("spore-agent: bind vsock port " + std::to_string(port));
    if (listen(fd.get(), kListenBacklog) != 0)
        return Error::from_errno("spore-agent: listen on vsock");
    return fd;
}

Result<void> supervise_sessions(int listen_fd)
{
    Supervisor supervisor(listen_fd, TRY(child_signal_fd()));
    return supervisor.run();
}

} // namespace spore::agent
