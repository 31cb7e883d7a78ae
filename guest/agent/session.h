#pragma once

#include <chrono>

#include "common/error.h"

namespace spore::agent {

// How long a new connection may take to deliver its request.
inline constexpr std::chrono::milliseconds kRequestTimeout{10000};

// Serves one exec connection (docs/exec-protocol.md): reads the request,
// runs the command, streams its output and sends the exit status, or an
// ERROR frame when the request cannot be served. If the host goes away
// first, the command's process group is killed. Returns once the command
// has been reaped; an error says why the exchange ended early and has
// already been reported to the host when the connection still allowed it.
// The caller keeps ownership of connection_fd.
Result<void> serve_exec_session(int connection_fd);

} // namespace spore::agent
