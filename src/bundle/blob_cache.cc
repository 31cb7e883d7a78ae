#include "bundle/blob_cache.h"

#include <unistd.h>

#include "spore/cache_directory.h"
#include "spore/digest.h"
#include "spore/durable_file.h"

namespace spore::bundle {

Result<BlobCache> BlobCache::open_default()
{
    std::string directory = TRY_CONTEXT(user_cache_directory("blobs"), "blob cache");
    return open(directory);
}

Result<BlobCache> BlobCache::open(const std::string& directory)
{
    TRY_CONTEXT(make_directories(directory, 0700), "blob cache");
    ChunkStore store = TRY_CONTEXT(ChunkStore::open(directory, false), "blob cache");
    return BlobCache(std::move(store));
}

Result<bool> BlobCache::read(const std::string& digest, std::optional<uint64_t> size,
    uint64_t max_size, std::vector<uint8_t>& out) const
{
    auto stored = m_store.stored_size(digest);
    if (!stored && stored.error().code() == ErrorCode::NotFound)
        return false;
    if (!stored)
        return stored.error().with_context("blob cache");
    if ((size && *stored != *size) || *stored > max_size) {
        discard(digest);
        return false;
    }
    out.resize(*stored);
    if (!m_store.read_verified(digest, out)) {
        discard(digest);
        return false;
    }
    return true;
}

Result<void> BlobCache::put(const std::string& digest, std::span<const uint8_t> bytes) const
{
    TRY_CONTEXT(m_store.put_verified(digest, bytes, Durability::Deferred), "blob cache");
    return {};
}

void BlobCache::discard(const std::string& digest) const
{
    if (!is_valid_digest(digest))
        return;
    std::string path = m_store.path() + "/" + digest.substr(kDigestPrefix.size());
    ::unlink(path.c_str());
}

} // namespace spore::bundle
