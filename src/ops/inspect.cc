#include "ops/inspect.h"

#include <sys/stat.h>

#include <cinttypes>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <set>

#include "spore/manifest_json.h"
#include "spore/spore_directory.h"

namespace spore {

namespace {

struct ChunkCounts {
    size_t total = 0;
    size_t zero = 0;
    size_t distinct = 0;
    uint64_t stored_bytes = 0;
};

ChunkCounts count_chunks(const std::string& path, const MemoryIndex& memory)
{
    ChunkCounts counts;
    std::set<std::string> distinct;
    for (const auto& chunk : memory.chunks) {
        counts.total++;
        if (!chunk.digest) {
            counts.zero++;
            continue;
        }
        if (!distinct.insert(*chunk.digest).second)
            continue;
        struct stat status;
        std::string file = path + "/chunks/" + chunk.digest->substr(7);
        if (stat(file.c_str(), &status) == 0)
            counts.stored_bytes += static_cast<uint64_t>(status.st_blocks) * 512;
    }
    counts.distinct = distinct.size();
    return counts;
}

std::string human_summary(const std::string& path, const Manifest& manifest, const ChunkCounts& counts)
{
    const auto& platform = manifest.platform;
    char text[2048];
    int length = std::snprintf(
        text, sizeof text,
        "spore %s\n"
        "  created       %s\n"
        "  platform      %s/%s, device model %u, counter %" PRIu64 " Hz\n"
        "  machine       %u vCPU, %" PRIu64 " MiB RAM at 0x%" PRIx64 "\n"
        "  memory        %s\n"
        "  chunks        %zu of %" PRIu64 " KiB: %zu zero, %zu stored (%zu distinct), %.1f MiB on disk\n"
        "  devices       %zu\n"
        "  agent         exec protocol %u on vsock port %u\n",
        path.c_str(), manifest.created_at.c_str(), platform.architecture.c_str(), platform.backend.c_str(),
        platform.device_model_version, platform.counter_frequency, platform.vcpu_count, platform.ram_size >> 20,
        platform.ram_base, memory_digest(manifest.memory).c_str(), counts.total, manifest.memory.chunk_size >> 10,
        counts.zero, counts.total - counts.zero, counts.distinct, static_cast<double>(counts.stored_bytes) / (1 << 20),
        manifest.devices.size(), manifest.agent.protocol_version, manifest.agent.port);
    std::string summary(text, static_cast<size_t>(std::min<int>(length, sizeof text - 1)));
    const Identity& identity = manifest.identity;
    summary += "  identity      " + identity.hostname + ", vm " + identity.vm_id + ", generation " +
               std::to_string(identity.generation) + " (parent " + std::to_string(identity.parent_generation) + ")\n";
    if (!identity.batch_id.empty())
        summary += "  fork          child " + std::to_string(identity.fork_index) + " of " +
                   std::to_string(identity.fork_count) + ", batch " + identity.batch_id + "\n";
    if (manifest.running_sessions.empty())
        summary += "  sessions      none running (resume with spore run --from)\n";
    for (const auto& session : manifest.running_sessions)
        summary += "  session       " + session.session_id + " running, output delivered to " +
                   std::to_string(session.stdout_offset) + "/" + std::to_string(session.stderr_offset) +
                   " bytes (resume with spore resume)\n";
    return summary;
}

nlohmann::ordered_json identity_json(const Identity& identity)
{
    return {{"generation", identity.generation}, {"parent_generation", identity.parent_generation},
            {"fork_index", identity.fork_index},  {"fork_count", identity.fork_count},
            {"batch_id", identity.batch_id},      {"vm_id", identity.vm_id},
            {"hostname", identity.hostname},      {"mac_seed", identity.mac_seed}};
}

std::string json_summary(const std::string& path, const Manifest& manifest, const ChunkCounts& counts)
{
    nlohmann::ordered_json sessions = nlohmann::ordered_json::array();
    for (const auto& session : manifest.running_sessions)
        sessions.push_back({{"session_id", session.session_id},
                            {"stdout_offset", session.stdout_offset},
                            {"stderr_offset", session.stderr_offset}});
    nlohmann::ordered_json summary = {
        {"path", path},
        {"created_at", manifest.created_at},
        {"architecture", manifest.platform.architecture},
        {"backend", manifest.platform.backend},
        {"device_model_version", manifest.platform.device_model_version},
        {"counter_frequency", manifest.platform.counter_frequency},
        {"vcpu_count", manifest.platform.vcpu_count},
        {"ram_size", manifest.platform.ram_size},
        {"memory_digest", memory_digest(manifest.memory)},
        {"chunk_size", manifest.memory.chunk_size},
        {"chunks", counts.total},
        {"zero_chunks", counts.zero},
        {"distinct_stored_chunks", counts.distinct},
        {"stored_bytes", counts.stored_bytes},
        {"running_sessions", sessions},
        {"identity", identity_json(manifest.identity)},
    };
    return summary.dump(2) + "\n";
}

} // namespace

Result<std::string> inspect_spore(const std::string& path, bool json)
{
    auto reader = TRY(SporeReader::open(path));
    auto counts = count_chunks(path, reader.manifest().memory);
    return json ? json_summary(path, reader.manifest(), counts) : human_summary(path, reader.manifest(), counts);
}

} // namespace spore
