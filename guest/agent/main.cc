// spore-agent: /init of the embedded initrd. Prepares the guest, then
// serves exec requests from the host on vsock (docs/exec-protocol.md).
#include <unistd.h>

#include <cstdio>

#include "exec/protocol.h"
#include "guest/agent/agent.h"
#include "guest/agent/system_setup.h"

namespace {

using namespace spore;

// The generation device, or nullptr: a board or kernel without one (an
// older board, a custom kernel without uio) still serves requests, and
// gets new generations in-band only.
std::unique_ptr<agent::GenerationDevice> open_generation_device()
{
    auto device = agent::GenerationDevice::open();
    if (!device) {
        std::fprintf(stderr, "spore-agent: generation device: %s; running without it\n",
            device.error().message().c_str());
        return nullptr;
    }
    if (!*device)
        std::fprintf(stderr, "spore-agent: no generation device; running without one\n");
    return std::move(*device);
}

} // namespace

int main()
{
    // Outside PID 1 (debugging on a running system) the system is already set up.
    if (getpid() == 1)
        agent::prepare_system();

    auto listener = agent::listen_vsock(exec::kAgentPort);
    if (!listener) {
        std::fprintf(stderr, "%s\n", listener.error().message().c_str());
        return 1;
    }

    agent::AgentOptions options;
    options.generation_device = open_generation_device();
    if (auto* device = options.generation_device.get())
        options.generation.report_applied
            = [device](uint64_t generation) { device->report_applied(generation); };
    if (auto served = agent::serve_agent(listener->get(), std::move(options)); !served)
        std::fprintf(stderr, "%s\n", served.error().message().c_str());
    return 1;
}
