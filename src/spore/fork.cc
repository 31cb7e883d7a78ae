#include "spore/fork.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <unordered_set>

#include "common/sha256.h"
#include "common/unique_fd.h"
#include "spore/durable_file.h"
#include "spore/identity.h"
#include "spore/manifest_json.h"
#include "spore/spore_directory.h"
#include "spore/staging_directory.h"

namespace spore {
namespace {

using Clock = std::chrono::steady_clock;

// Random bytes per child: a vm_id and a mac_seed.
constexpr size_t kChildRandomBytes = kVmIdDigits / 2 + kMacSeedDigits / 2;

// The children's identities, all from one getrandom call.
Result<std::vector<Identity>> child_identities(const Identity& parent, uint32_t count)
{
    if (parent.generation == UINT64_MAX)
        return Error::invalid("fork: the parent's generation is already the largest there is");
    std::vector<uint8_t> random(kBatchIdDigits / 2 + size_t{count} * kChildRandomBytes);
    TRY_CONTEXT(fill_random(random), "fork");
    std::span<const uint8_t> bytes(random);
    std::string batch_id = to_hex(bytes.first(kBatchIdDigits / 2));
    bytes = bytes.subspan(kBatchIdDigits / 2);

    std::vector<Identity> identities(count);
    for (uint32_t index = 0; index < count; index++) {
        Identity& identity = identities[index];
        auto own = bytes.subspan(size_t{index} * kChildRandomBytes, kChildRandomBytes);
        identity.generation = parent.generation + 1;
        identity.parent_generation = parent.generation;
        identity.fork_index = index;
        identity.fork_count = count;
        identity.batch_id = batch_id;
        identity.vm_id = to_hex(own.first(kVmIdDigits / 2));
        identity.hostname = hostname_for(identity.vm_id);
        identity.mac_seed = to_hex(own.subspan(kVmIdDigits / 2));
    }
    return identities;
}

// Links every chunk the parent stores into the batch store. Presence and
// size were checked when the parent was opened; bytes are verified when a
// child restores, like any spore's.
Result<void> link_chunks(const Manifest& parent, const ChunkStore& from, ChunkStore& batch)
{
    std::unordered_set<std::string_view> linked;
    for (const MemoryChunk& chunk : parent.memory.chunks) {
        if (chunk.digest && linked.insert(*chunk.digest).second)
            TRY(batch.link_from(from, *chunk.digest));
    }
    return {};
}

// Creates staging/NAME with its chunks symlink and manifest. Plain writes:
// the whole staging tree is made durable at once before it is published.
Result<void> write_child(int staging, const std::string& what, const std::string& name,
    const std::string& prefix, const std::string& identity_text)
{
    if (::mkdirat(staging, name.c_str(), 0755) < 0)
        return Error::from_errno(what + "/" + name);
    std::string link = name + "/" + std::string(kChunksDirectoryName);
    if (::symlinkat(std::string(kChildChunksTarget).c_str(), staging, link.c_str()) < 0)
        return Error::from_errno(what + "/" + link);
    std::string manifest = name + "/" + std::string(kManifestFileName);
    UniqueFd file(
        ::openat(staging, manifest.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
    if (!file.valid())
        return Error::from_errno(what + "/" + manifest);
    auto as_bytes = [](const std::string& text) {
        return std::span(reinterpret_cast<const uint8_t*>(text.data()), text.size());
    };
    TRY(write_fully(file.get(), as_bytes(prefix), what + "/" + manifest));
    return write_fully(file.get(), as_bytes(identity_text), what + "/" + manifest);
}

// One syncfs makes every manifest, directory entry, symlink and link in the
// staging tree durable with one journal commit, where an fsync per file
// would cost one each. Without it the rename could reach the disk before
// the manifests' data and publish a batch of empty files.
Result<void> sync_tree(int staging, const std::string& what)
{
    if (::syncfs(staging) < 0)
        return Error::from_errno(what + ": syncfs");
    return {};
}

} // namespace

std::string fork_child_name(uint32_t index)
{
    char name[16];
    std::snprintf(name, sizeof(name), "%06u", index);
    return name;
}

Result<ForkResult> fork_spore(const std::string& parent_path, uint32_t count,
    const std::string& out_path, const ForkOptions& options)
{
    Clock::time_point start = Clock::now();
    if (count == 0 || count > kMaxForkChildren) {
        return Error::invalid("fork: cannot make " + std::to_string(count) + " children (1 to "
            + std::to_string(kMaxForkChildren) + ")");
    }
    SporeReader parent = TRY_CONTEXT(SporeReader::open(parent_path), "fork");
    std::vector<Identity> identities = TRY(child_identities(parent.manifest().identity, count));

    StagingDirectory staging = TRY_CONTEXT(StagingDirectory::begin(out_path), "fork");
    const std::string& what = staging.final_path();
    UniqueFd staging_fd(::open(staging.path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!staging_fd.valid())
        return Error::from_errno("fork: " + staging.path());
    ChunkStore batch = TRY_CONTEXT(
        ChunkStore::open(staging.path() + "/" + std::string(kBatchChunksName), true), "fork");
    TRY_CONTEXT(link_chunks(parent.manifest(), parent.chunks(), batch), "fork: " + what);

    // The parent was validated when read, so only each child's identity
    // needs checking, and only the identity needs serializing per child.
    ManifestSerializer serializer(parent.manifest());
    ForkResult result;
    result.batch_id = identities.front().batch_id;
    result.children.reserve(count);
    for (uint32_t index = 0; index < count; index++) {
        TRY_CONTEXT(validate_identity(identities[index]), "fork");
        std::string name = fork_child_name(index);
        TRY_CONTEXT(write_child(staging_fd.get(), what, name, serializer.prefix(),
                        ManifestSerializer::identity_text(identities[index])),
            "fork");
        result.children.push_back(what + "/" + name);
        if (options.on_child_staged)
            TRY_CONTEXT(options.on_child_staged(index + 1, count), "fork");
    }

    TRY_CONTEXT(sync_tree(staging_fd.get(), what), "fork");
    TRY_CONTEXT(staging.publish(), "fork");
    result.elapsed = Clock::now() - start;
    return result;
}

} // namespace spore
