#pragma once

// Forking a spore into a batch of children (docs/spore-format.md, "Fork
// batches"). A fork is paperwork: it links the parent's chunks into one
// store shared by the batch and writes one manifest per child that differs
// from the parent's only in its identity. No chunk byte is read or copied
// (unless hard links are impossible), so its cost does not grow with RAM.

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"

namespace spore {

// Most children one fork makes.
inline constexpr uint32_t kMaxForkChildren = 10'000;
// Name of a batch's shared chunk store, and the target of each child's
// chunks symlink.
inline constexpr std::string_view kBatchChunksName = "chunks";
inline constexpr std::string_view kChildChunksTarget = "../chunks";

struct ForkOptions {
    // Called after each child is staged, with the number staged so far. An
    // error stops the fork, which then publishes nothing; a CLI returns
    // Interrupted here once the user asked to stop.
    std::function<Result<void>(uint32_t staged, uint32_t count)> on_child_staged;
};

struct ForkResult {
    std::string batch_id; // shared by every child's identity
    std::vector<std::string> children; // out_path/000000, ... in fork_index order
    std::chrono::nanoseconds elapsed{};
};

// Forks the spore at parent_path into count children (1 to 10,000) under
// out_path, which must not exist. The batch appears atomically and durably:
// after a crash or a failure out_path is either absent or complete. A fork
// child is a spore and can itself be forked.
Result<ForkResult> fork_spore(const std::string& parent_path, uint32_t count,
    const std::string& out_path, const ForkOptions& options = {});

// The directory name of child index in a batch: six decimal digits.
std::string fork_child_name(uint32_t index);

} // namespace spore
