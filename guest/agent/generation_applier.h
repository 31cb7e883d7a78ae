#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>

#include "common/error.h"
#include "exec/generation.h"
#include "guest/agent/wall_clock.h"

namespace spore::agent {

// Where the agent publishes the parameters of the generation it applied.
inline constexpr const char* kGenerationJsonPath = "/run/sporevm/generation.json";
inline constexpr const char* kGenerationEnvPath = "/run/sporevm/env";

// What applying a generation does to the system, as functions so that tests
// can stand in for actions only root may take. An empty function is a step
// skipped.
struct GenerationActions {
    // Replaces the file at path (as the guest names it) with contents and
    // the given mode, atomically.
    std::function<Result<void>(const std::string& path, std::string_view contents, mode_t mode)>
        write_file;
    // Sets the kernel's hostname.
    std::function<Result<void>(const std::string& hostname)> set_hostname;
    // Mixes seed into the kernel's entropy pool, credited in full, and
    // forces the random generator to reseed from it.
    std::function<Result<void>(std::span<const uint8_t> seed)> mix_entropy;
    // Tells the host the generation was applied (the device's APPLIED
    // registers); empty when there is no device to tell.
    std::function<void(uint64_t generation)> report_applied;
};

// The real actions; files are written below root (the guest's "/" in the
// agent, a scratch directory in tests) and report_applied is left empty.
GenerationActions system_generation_actions(std::string root = "/");

// Replaces path with contents atomically: writes a temporary file next to
// it and renames it over path, creating missing parent directories.
Result<void> replace_file(const std::string& path, std::string_view contents, mode_t mode);

// Single-quotes value for a POSIX shell, so any bytes read back unchanged.
std::string shell_quote(std::string_view value);

// The /run/sporevm/env text: one NAME='value' line per variable.
std::string generation_environment(const exec::GenerationParameters& parameters);

// Applies generations to the guest, each at most once: the agent meets the
// same generation on the device and in-band, and whichever comes first
// wins. It remembers only the newest generation it applied, in memory: a
// capture saves that with the rest of the guest, so a resumed guest
// compares the host's generation with what it had applied at capture.
class GenerationApplier {
public:
    GenerationApplier(GenerationActions actions, WallClock clock);

    // If parameters.generation is newer than the last one applied: writes
    // kGenerationJsonPath and kGenerationEnvPath, sets the hostname, mixes
    // in the entropy, sets the wall clock from time_ns, and reports the
    // generation applied, in that order. A step that fails is reported on
    // stderr and the others still run, since each matters on its own.
    // parameters must satisfy exec::validate_generation_parameters(). Returns whether
    // the generation was new.
    bool apply(const exec::GenerationParameters& parameters);

    // The newest generation applied, 0 before the first.
    uint64_t applied() const { return m_applied; }

private:
    void report(uint64_t generation, const Error& error) const;

    GenerationActions m_actions;
    WallClock m_clock;
    uint64_t m_applied = 0;
};

} // namespace spore::agent
