#include "common/parallel.h"

#include <algorithm>
#include <atomic>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

namespace spore {

Result<void> parallel_for(size_t count, unsigned jobs,
    const std::function<Result<void>(size_t index, unsigned worker)>& task)
{
    std::atomic<size_t> next = 0;
    std::atomic<bool> failed = false;
    std::mutex lock;
    std::optional<Error> first_error;

    auto work = [&](unsigned worker) {
        while (!failed.load()) {
            size_t index = next.fetch_add(1);
            if (index >= count)
                return;
            auto done = task(index, worker);
            if (!done) {
                std::lock_guard guard(lock);
                if (!first_error)
                    first_error = done.release_error();
                failed = true;
                return;
            }
        }
    };

    jobs = static_cast<unsigned>(std::clamp<size_t>(std::min<size_t>(jobs, count), 1, 256));
    std::vector<std::thread> threads;
    for (unsigned worker = 1; worker < jobs; worker++)
        threads.emplace_back(work, worker);
    work(0);
    for (std::thread& thread : threads)
        thread.join();
    if (first_error)
        return std::move(*first_error);
    return {};
}

} // namespace spore
