#include "guest/agent/wall_clock.h"

#include <ctime>

namespace spore::agent {
namespace {

constexpr int64_t kNanosecondsPerSecond = 1'000'000'000;

int64_t read_realtime()
{
    timespec now{};
    clock_gettime(CLOCK_REALTIME, &now);
    return static_cast<int64_t>(now.tv_sec) * kNanosecondsPerSecond + now.tv_nsec;
}

Result<void> set_realtime(int64_t time_ns)
{
    timespec value{static_cast<time_t>(time_ns / kNanosecondsPerSecond),
        static_cast<long>(time_ns % kNanosecondsPerSecond)};
    if (clock_settime(CLOCK_REALTIME, &value) != 0)
        return Error::from_errno("exec: setting the wall clock");
    return {};
}

} // namespace

WallClock system_wall_clock()
{
    return {read_realtime, set_realtime};
}

Result<void> apply_host_time(const WallClock& clock, const exec::HostParameters& parameters)
{
    if (!parameters.time_ns)
        return {};
    int64_t target = *parameters.time_ns;
    int64_t now = clock.now_ns();
    // Both are non-negative, so the difference cannot overflow.
    int64_t difference = target > now ? target - now : now - target;
    if (difference <= kClockToleranceNs)
        return {};
    return clock.set_ns(target);
}

} // namespace spore::agent
