#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>

#include "common/error.h"
#include "common/unique_fd.h"
#include "guest/agent/generation_applier.h"
#include "guest/agent/generation_device.h"
#include "guest/agent/wall_clock.h"

namespace spore::agent {

// The bounds docs/exec-protocol.md promises; tests shrink them.
struct AgentLimits {
    // Connections open at once; a connection beyond that gets an ERROR frame.
    size_t max_connections = 64;
    // Sessions kept at once, running or finished; the oldest finished
    // session without a client makes room for a new one.
    size_t max_sessions = 64;
    // Bytes kept of each output stream, its newest ones.
    uint64_t stream_capacity = 8 * 1024 * 1024;
    // Bytes kept of all streams of all sessions together.
    uint64_t output_budget = 32 * 1024 * 1024;
    // How long a new connection may take to deliver its REQUEST or ATTACH.
    std::chrono::milliseconds request_timeout{10000};
    // How long a connection may take to drain its last frame and hang up.
    std::chrono::milliseconds linger_timeout{1000};
};

// How the agent runs.
struct AgentOptions {
    AgentLimits limits;
    WallClock clock = system_wall_clock();
    // What applying a new generation does to the guest; the applier also
    // sets the clock through clock.
    GenerationActions generation = system_generation_actions();
    // The generation device, when the board has one; its interrupt joins
    // the event loop. Reporting the applied generation to it is up to
    // generation.report_applied.
    std::unique_ptr<GenerationDevice> generation_device;
};

// A vsock stream socket listening on port for connections to any local CID.
Result<UniqueFd> listen_vsock(uint32_t port);

// Serves the exec protocol (docs/exec-protocol.md) on listen_fd forever in
// one event loop: accepts connections, runs each request's command as a
// session that outlives its connection, lets later connections attach to
// it, and reaps every child that ends up with this process (as PID 1 that
// includes all orphans). A new generation, from the generation device or
// from a request's params.generation, is applied before any command starts
// or session resumes after it. SIGCHLD is blocked on the calling thread,
// which must be the only one. Returns only on a failure that leaves it
// unable to go on; running commands are then killed.
Result<void> serve_agent(int listen_fd, AgentOptions options = {});

} // namespace spore::agent
