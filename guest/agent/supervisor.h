#pragma once

#include <cstddef>
#include <cstdint>

#include "common/error.h"
#include "common/unique_fd.h"

namespace spore::agent {

// Sessions that may run at once; a connection beyond that gets an ERROR frame.
inline constexpr size_t kMaxSessions = 64;

// A vsock stream socket listening on port for connections to any local CID.
Result<UniqueFd> listen_vsock(uint32_t port);

// Accepts connections on listen_fd forever and serves each in a forked
// session process, while reaping every child that ends up with this
// process (as PID 1 that includes all orphans). Returns only on a failure
// that leaves it unable to go on.
Result<void> supervise_sessions(int listen_fd);

} // namespace spore::agent
