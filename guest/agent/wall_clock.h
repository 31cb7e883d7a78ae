#pragma once

#include <cstdint>
#include <functional>

#include "common/error.h"
#include "exec/protocol.h"

namespace spore::agent {

// A request's time_ns closer than this to the guest's clock leaves the
// clock alone, so a clock that is already right is not stepped back by the
// time the request took to arrive.
inline constexpr int64_t kClockToleranceNs = 1'000'000;

// The guest's wall clock (CLOCK_REALTIME), as functions so that tests can
// stand in for a clock that only root may set.
struct WallClock {
    std::function<int64_t()> now_ns; // nanoseconds since the unix epoch
    std::function<Result<void>(int64_t)> set_ns;
};

// CLOCK_REALTIME itself.
WallClock system_wall_clock();

// Sets clock to parameters.time_ns when it is present and the two differ by
// more than kClockToleranceNs.
Result<void> apply_host_time(const WallClock& clock, const exec::HostParameters& parameters);

} // namespace spore::agent
