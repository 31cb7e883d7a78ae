#include "ops/capture.h"

#include <chrono>

#include "common/log.h"
#include "exec/protocol.h"
#include "spore/chunk_store.h"
#include "spore/spore_directory.h"

namespace spore {

Result<void> capture_machine(Machine& machine, const std::string& path, std::vector<RunningSession> sessions,
                             const Identity& running)
{
    auto started = std::chrono::steady_clock::now();
    auto writer = TRY_CONTEXT(SporeWriter::begin(path), "capture");
    auto manifest = TRY(machine.capture(writer.chunks()));
    manifest.agent.protocol_version = exec::kProtocolVersion;
    manifest.agent.port = exec::kAgentPort;
    manifest.running_sessions = std::move(sessions);
    manifest.identity = running;
    manifest.identity.generation = running.generation + 1;
    manifest.identity.parent_generation = running.generation;
    TRY_CONTEXT(writer.commit(manifest), "capture");
    log::debug("capture", "spore written to %s in %.1f ms", path.c_str(),
               std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count());

    auto chunks = ChunkStore::open(path + "/chunks", false);
    if (chunks)
        machine.set_memory_baseline(manifest.memory, std::make_unique<ChunkStore>(std::move(*chunks)));
    return {};
}

} // namespace spore
