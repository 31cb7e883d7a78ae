#include "guest/agent/wall_clock.h"

#include <gtest/gtest.h>

namespace spore::agent {
namespace {

constexpr int64_t kNow = 1'700'000'000'000'000'000;

// A clock at kNow that records what it is set to.
struct RecordingClock {
    std::vector<int64_t> settings;

    WallClock clock()
    {
        return {[] { return kNow; },
            [this](int64_t time_ns) -> Result<void> {
                settings.push_back(time_ns);
                return {};
            }};
    }
};

TEST(WallClock, AbsentTimeLeavesTheClockAlone)
{
    RecordingClock recorder;
    EXPECT_TRUE(apply_host_time(recorder.clock(), {}).has_value());
    EXPECT_TRUE(recorder.settings.empty());
}

TEST(WallClock, TimeOffByMoreThanTheToleranceIsSet)
{
    RecordingClock recorder;
    for (int64_t time : {kNow + kClockToleranceNs + 1, kNow - kClockToleranceNs - 1, int64_t{0}})
        EXPECT_TRUE(apply_host_time(recorder.clock(), {time}).has_value());
    EXPECT_EQ(recorder.settings,
        (std::vector<int64_t>{kNow + kClockToleranceNs + 1, kNow - kClockToleranceNs - 1, 0}));
}

TEST(WallClock, TimeWithinTheToleranceIsNotSet)
{
    RecordingClock recorder;
    for (int64_t time : {kNow, kNow + kClockToleranceNs, kNow - kClockToleranceNs})
        EXPECT_TRUE(apply_host_time(recorder.clock(), {time}).has_value());
    EXPECT_TRUE(recorder.settings.empty());
}

TEST(WallClock, FailureToSetIsReported)
{
    WallClock refusing{[] { return kNow; },
        [](int64_t) -> Result<void> {
            return Error::from_errno("exec: setting the wall clock", EPERM);
        }};
    auto applied = apply_host_time(refusing, {int64_t{0}});
    ASSERT_FALSE(applied.has_value());
    EXPECT_EQ(applied.error().message(), "exec: setting the wall clock: Operation not permitted");
}

TEST(WallClock, SystemClockReadsTheRealTime)
{
    int64_t now = system_wall_clock().now_ns();
    EXPECT_LT(std::abs(now / 1'000'000'000 - static_cast<int64_t>(time(nullptr))), 2);
}

} // namespace
} // namespace spore::agent
