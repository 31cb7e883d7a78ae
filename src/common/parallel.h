#pragma once

#include <cstddef>
#include <functional>

#include "common/error.h"

namespace spore {

// Runs task(index, worker) for every index in [0, count) on up to jobs
// threads, the caller's among them; worker (0 to jobs - 1) lets a task keep
// per-thread buffers. Once a task fails no new index is handed out, and the
// first failure is returned after every thread has stopped.
Result<void> parallel_for(size_t count, unsigned jobs,
    const std::function<Result<void>(size_t index, unsigned worker)>& task);

} // namespace spore
