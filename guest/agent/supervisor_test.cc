// The accept loop on a unix socket instead of vsock, in a forked process
// because it never returns and blocks SIGCHLD.
#include "guest/agent/supervisor.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <fstream>
#include <thread>

#include "exec/client.h"

namespace spore::agent {
namespace {

using namespace std::chrono_literals;

constexpr int kClients = 8;

sockaddr_un unix_address()
{
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    // Abstract namespace: nothing to clean up, unique per test process.
    std::snprintf(
        address.sun_path + 1, sizeof address.sun_path - 1, "spore-agent-test-%d", getpid());
    return address;
}

class SupervisorProcess {
public:
    SupervisorProcess()
    {
        UniqueFd listener(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
        auto address = unix_address();
        EXPECT_EQ(bind(listener.get(), reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
        EXPECT_EQ(listen(listener.get(), kClients), 0);
        m_pid = fork();
        if (m_pid == 0) {
            [[maybe_unused]] auto served = supervise_sessions(listener.get());
            _exit(1);
        }
    }
    ~SupervisorProcess()
    {
        kill(m_pid, SIGKILL);
        waitpid(m_pid, nullptr, 0);
    }

    // The supervisor's live children, from /proc.
    std::string children() const
    {
        std::ifstream file(
            "/proc/" + std::to_string(m_pid) + "/task/" + std::to_string(m_pid) + "/children");
        std::string text;
        std::getline(file, text);
        return text;
    }

private:
    pid_t m_pid = -1;
};

UniqueFd connect_to_supervisor()
{
    UniqueFd connection(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    auto address = unix_address();
    EXPECT_EQ(connect(connection.get(), reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
    return connection;
}

TEST(AgentSupervisor, ServesConcurrentConnectionsAndReapsEverySession)
{
    SupervisorProcess supervisor;
    std::vector<std::thread> clients;
    std::atomic<int> succeeded = 0;
    for (int index = 0; index < kClients; index++) {
        clients.emplace_back([&succeeded, index] {
            auto connection = connect_to_supervisor();
            exec::ExecRequest request{{"sh", "-c", "sleep 0.2; exit " + std::to_string(index)}};
            auto status = exec::run_remote_command(
                connection.get(), request, -1, -1, std::chrono::steady_clock::now() + 30s);
            if (status && status->code == static_cast<uint32_t>(index))
                succeeded++;
        });
    }
    for (auto& client : clients)
        client.join();
    EXPECT_EQ(succeeded, kClients);

    auto deadline = std::chrono::steady_clock::now() + 5s;
    while (!supervisor.children().empty() && std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(10ms);
    EXPECT_EQ(supervisor.children(), "");
}

} // namespace
} // namespace spore::agent
