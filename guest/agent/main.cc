// spore-agent: /init of the embedded initrd. Prepares the guest, then
// serves exec requests from the host on vsock (docs/exec-protocol.md).
#include <unistd.h>

#include <cstdio>

#include "exec/protocol.h"
#include "guest/agent/agent.h"
#include "guest/agent/system_setup.h"

int main()
{
    using namespace spore;

    // Outside PID 1 (debugging on a running system) the system is already set up.
    if (getpid() == 1)
        agent::prepare_system();

    auto listener = agent::listen_vsock(exec::kAgentPort);
    if (!listener) {
        std::fprintf(stderr, "%s\n", listener.error().message().c_str());
        return 1;
    }
    if (auto served = agent::serve_agent(listener->get()); !served)
        std::fprintf(stderr, "%s\n", served.error().message().c_str());
    return 1;
}
