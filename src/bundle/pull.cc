#include "bundle/pull.h"

#include <algorithm>
#include <atomic>
#include <mutex>
#include <vector>

#include "bundle/resolve.h"
#include "common/parallel.h"
#include "spore/digest.h"
#include "spore/spore_directory.h"

namespace spore::bundle {
namespace {

enum class Source { Cache, Remote };

// Fetches blobs through the cache, verified, counting what each source gave.
class BlobFetcher {
public:
    BlobFetcher(remote::Remote& remote, const BlobCache* cache)
        : m_remote(remote)
        , m_cache(cache)
    {
    }

    // The blob's bytes into out, verified against descriptor; size 0 in the
    // descriptor means "unknown, at most limit" (the index, named only by
    // its digest).
    Result<Source> get(const Descriptor& descriptor, remote::ContentKind kind, uint64_t limit,
        std::vector<uint8_t>& out)
    {
        std::optional<uint64_t> size;
        if (descriptor.size != 0 || kind == remote::ContentKind::Blob)
            size = descriptor.size;
        if (size && *size > limit) {
            return Error::invalid(m_remote.describe() + ": blob " + descriptor.digest + " is "
                + std::to_string(*size) + " bytes, over the limit of " + std::to_string(limit));
        }
        if (m_cache && TRY(m_cache->read(descriptor.digest, size, limit, out))) {
            m_bytes_cached += out.size();
            return Source::Cache;
        }

        remote::ContentRef content{kind, descriptor.digest, descriptor.media_type};
        TRY(m_remote.fetch(content, size.value_or(limit), out));
        m_bytes_fetched += out.size();
        Descriptor expected = descriptor;
        expected.size = size.value_or(out.size());
        TRY_CONTEXT(verify_blob_bytes(expected, out), m_remote.describe());
        if (m_cache)
            TRY(m_cache->put(descriptor.digest, out));
        return Source::Remote;
    }

    uint64_t bytes_fetched() const { return m_bytes_fetched; }
    uint64_t bytes_cached() const { return m_bytes_cached; }

private:
    remote::Remote& m_remote;
    const BlobCache* m_cache;
    std::atomic<uint64_t> m_bytes_fetched = 0;
    std::atomic<uint64_t> m_bytes_cached = 0;
};

// Brings every chunk of the spore into the writer's store.
class ChunkPuller {
public:
    ChunkPuller(BlobFetcher& fetcher, const BlobCache* cache, SporeWriter& writer,
        std::span<const Descriptor> chunks, const PullOptions& options)
        : m_fetcher(fetcher)
        , m_cache(cache)
        , m_writer(writer)
        , m_chunks(chunks)
        , m_options(options)
    {
        m_progress.chunks_total = chunks.size();
        for (const Descriptor& chunk : chunks)
            m_progress.bytes_total += chunk.size;
    }

    Result<void> run()
    {
        unsigned jobs = std::clamp<unsigned>(m_options.jobs, 1, 64);
        std::vector<std::vector<uint8_t>> buffers(jobs);
        return parallel_for(
            m_chunks.size(), jobs, [&](size_t index, unsigned worker) -> Result<void> {
                TRY(pull_one(m_chunks[index], buffers[worker]));
                report(m_chunks[index].size);
                return {};
            });
    }

    uint64_t chunks_cached() const { return m_chunks_cached; }

private:
    Result<void> pull_one(const Descriptor& chunk, std::vector<uint8_t>& buffer)
    {
        ChunkStore& store = m_writer.chunks();
        Source source = TRY(m_fetcher.get(chunk, remote::ContentKind::Blob, chunk.size, buffer));
        if (source == Source::Cache)
            m_chunks_cached++;
        // With a cache the spore links the cache's verified file; without
        // one the verified bytes are written directly.
        if (m_cache)
            TRY(store.link_from(m_cache->store(), chunk.digest));
        else
            TRY(store.put_verified(chunk.digest, buffer, Durability::Deferred));
        return {};
    }

    void report(uint64_t bytes)
    {
        std::lock_guard guard(m_lock);
        m_progress.chunks_done++;
        m_progress.bytes_done += bytes;
        if (m_options.progress)
            m_options.progress(m_progress);
    }

    BlobFetcher& m_fetcher;
    const BlobCache* m_cache;
    SporeWriter& m_writer;
    std::span<const Descriptor> m_chunks;
    const PullOptions& m_options;

    std::atomic<uint64_t> m_chunks_cached = 0;
    std::mutex m_lock;
    PullProgress m_progress;
};

} // namespace

Result<PullResult> pull_spore(
    remote::Remote& remote, const std::string& out_path, const PullOptions& options)
{
    if (!is_valid_digest(options.bundle_digest))
        return Error::invalid(
            "bundle digest \"" + options.bundle_digest + "\" is not a sha256 digest");
    if (options.child && !is_child_name(*options.child))
        return Error::invalid("child name \"" + *options.child + "\" is not six digits");

    // Refuse an existing destination before transferring anything.
    SporeWriter writer = TRY(SporeWriter::begin(out_path));
    BlobFetcher fetcher(remote, options.cache);
    std::vector<uint8_t> buffer;

    Descriptor index_descriptor{std::string(kIndexMediaType), options.bundle_digest, 0, {}, {}};
    TRY(fetcher.get(index_descriptor, remote::ContentKind::Manifest, kMaxIndexSize, buffer));
    std::string_view index_text(reinterpret_cast<const char*>(buffer.data()), buffer.size());
    std::string what = remote.describe() + "@" + options.bundle_digest;
    ImageIndex index = TRY_CONTEXT(parse_index(index_text), what);

    auto fetch = [&fetcher](const Descriptor& descriptor, remote::ContentKind kind,
                     uint64_t limit) -> Result<std::vector<uint8_t>> {
        std::vector<uint8_t> bytes;
        TRY(fetcher.get(descriptor, kind, limit, bytes));
        return bytes;
    };
    ResolvedSpore spore = TRY(resolve_spore(index, options.child, fetch, what));

    ChunkPuller puller(fetcher, options.cache, writer, spore.chunk_layers(), options);
    TRY(puller.run());
    // Cached and directly written chunks were deferred; one syncfs per file
    // system makes them durable before the manifest that names them.
    if (options.cache)
        TRY(options.cache->sync());
    TRY_CONTEXT(writer.chunks().sync_file_system(), out_path);
    TRY(writer.commit(spore.manifest));

    PullResult result;
    result.bundle_digest = options.bundle_digest;
    result.manifest_digest = spore.entry.digest;
    result.chunks_total = spore.chunk_layers().size();
    result.chunks_cached = puller.chunks_cached();
    result.chunks_fetched = result.chunks_total - result.chunks_cached;
    result.bytes_fetched = fetcher.bytes_fetched();
    result.bytes_cached = fetcher.bytes_cached();
    return result;
}

} // namespace spore::bundle
