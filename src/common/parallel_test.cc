#include "common/parallel.h"

#include <gtest/gtest.h>

#include <atomic>
#include <set>
#include <vector>

namespace spore {
namespace {

TEST(ParallelFor, RunsEveryIndexExactlyOnce)
{
    std::vector<std::atomic<int>> runs(1000);
    auto done = parallel_for(runs.size(), 4, [&](size_t index, unsigned) -> Result<void> {
        runs[index]++;
        return {};
    });
    ASSERT_TRUE(done);
    for (const auto& count : runs)
        EXPECT_EQ(count.load(), 1);
}

TEST(ParallelFor, WorkersAreNumberedBelowJobs)
{
    std::mutex lock;
    std::set<unsigned> workers;
    auto done = parallel_for(200, 3, [&](size_t, unsigned worker) -> Result<void> {
        std::lock_guard guard(lock);
        workers.insert(worker);
        return {};
    });
    ASSERT_TRUE(done);
    ASSERT_FALSE(workers.empty());
    EXPECT_LT(*workers.rbegin(), 3u);
}

TEST(ParallelFor, FirstFailureStopsNewWorkAndIsReturned)
{
    std::atomic<size_t> started = 0;
    auto done = parallel_for(100000, 2, [&](size_t index, unsigned) -> Result<void> {
        started++;
        if (index == 10)
            return Error::invalid("index 10 failed");
        return {};
    });
    ASSERT_FALSE(done);
    EXPECT_EQ(done.error().message(), "index 10 failed");
    EXPECT_LT(started.load(), 100000u);
}

TEST(ParallelFor, NoWorkRunsNothing)
{
    bool ran = false;
    auto done = parallel_for(0, 4, [&](size_t, unsigned) -> Result<void> {
        ran = true;
        return {};
    });
    EXPECT_TRUE(done);
    EXPECT_FALSE(ran);
}

} // namespace
} // namespace spore
