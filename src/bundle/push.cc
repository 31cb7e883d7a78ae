#include "bundle/push.h"

#include <algorithm>
#include <atomic>
#include <mutex>
#include <unordered_set>
#include <vector>

#include "bundle/oci_layout.h"
#include "common/file.h"
#include "common/parallel.h"
#include "spore/chunk_store.h"
#include "spore/digest.h"

namespace spore::bundle {
namespace {

std::string_view as_text(std::span<const uint8_t> bytes)
{
    return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
}

// One upload: a blob, or a spore's OCI manifest.
struct Upload {
    Descriptor descriptor;
    remote::ContentKind kind;
};

// What the bundle holds, in the order it must reach the remote: blobs
// first, then the manifests that reference them.
struct UploadPlan {
    std::vector<Upload> blobs;
    std::vector<Upload> manifests;
    uint64_t bytes = 0;
};

Result<UploadPlan> plan_uploads(const BundleReader& bundle)
{
    UploadPlan plan;
    std::unordered_set<std::string> seen;
    std::vector<uint8_t> bytes;
    for (const Descriptor& entry : bundle.index().manifests) {
        bytes = TRY(bundle.read_blob(entry, kMaxOciManifestSize));
        ArtifactManifest artifact = TRY_CONTEXT(
            parse_artifact_manifest(as_text(bytes)), bundle.path() + ": manifest " + entry.digest);
        auto add = [&](const Descriptor& blob) {
            if (seen.insert(blob.digest).second) {
                plan.blobs.push_back({blob, remote::ContentKind::Blob});
                plan.bytes += blob.size;
            }
        };
        add(artifact.config);
        for (const Descriptor& layer : artifact.layers)
            add(layer);
        if (seen.insert(entry.digest).second) {
            plan.manifests.push_back({entry, remote::ContentKind::Manifest});
            plan.bytes += entry.size;
        }
    }
    return plan;
}

class Pusher {
public:
    Pusher(const BundleReader& bundle, remote::Remote& remote, const PushOptions& options,
        uint64_t total)
        : m_bundle(bundle)
        , m_remote(remote)
        , m_options(options)
    {
        m_progress.bytes_total = total;
    }

    void expect(uint64_t blobs) { m_progress.blobs_total += blobs; }

    Result<void> send_all(const std::vector<Upload>& uploads)
    {
        unsigned jobs = std::clamp<unsigned>(m_options.jobs, 1, 64);
        std::vector<std::vector<uint8_t>> buffers(jobs);
        return parallel_for(
            uploads.size(), jobs, [&](size_t index, unsigned worker) -> Result<void> {
                return send(uploads[index], buffers[worker]);
            });
    }

    uint64_t uploaded() const { return m_uploaded; }
    uint64_t present() const { return m_present; }
    uint64_t bytes_uploaded() const { return m_bytes_uploaded; }

private:
    Result<void> send(const Upload& upload, std::vector<uint8_t>& buffer)
    {
        const Descriptor& descriptor = upload.descriptor;
        remote::ContentRef content{upload.kind, descriptor.digest, descriptor.media_type};
        if (TRY(m_remote.contains(content, descriptor.size))) {
            m_present++;
            report(descriptor.size);
            return {};
        }
        if (descriptor.size > kMaxChunkFileSize) {
            return Error::invalid(m_bundle.path() + ": blob " + descriptor.digest + " is "
                + std::to_string(descriptor.size) + " bytes, over the blob limit");
        }
        // Verified here, so a damaged local blob never reaches the remote.
        TRY(m_bundle.verify_blob(descriptor, buffer));
        TRY(m_remote.store(content, buffer));
        m_uploaded++;
        m_bytes_uploaded += descriptor.size;
        report(descriptor.size);
        return {};
    }

    void report(uint64_t bytes)
    {
        std::lock_guard guard(m_lock);
        m_progress.blobs_done++;
        m_progress.bytes_done += bytes;
        if (m_options.progress)
            m_options.progress(m_progress);
    }

    const BundleReader& m_bundle;
    remote::Remote& m_remote;
    const PushOptions& m_options;
    std::atomic<uint64_t> m_uploaded = 0;
    std::atomic<uint64_t> m_present = 0;
    std::atomic<uint64_t> m_bytes_uploaded = 0;
    std::mutex m_lock;
    PushProgress m_progress;
};

} // namespace

Result<PushResult> push_bundle(
    const std::string& bundle_path, remote::Remote& remote, const PushOptions& options)
{
    BundleReader bundle = TRY(BundleReader::open(bundle_path));
    // The exact bytes the bundle digest names; a bundle rewritten since it
    // was opened is refused rather than pushed half old, half new.
    auto index_bytes
        = TRY(read_file(bundle_path + "/" + std::string(kIndexFileName), kMaxIndexSize));
    if (digest_of(index_bytes) != bundle.digest())
        return Error::invalid(bundle_path + ": index.json changed while it was being pushed");

    UploadPlan plan = TRY(plan_uploads(bundle));
    Pusher pusher(bundle, remote, options, plan.bytes + index_bytes.size());
    pusher.expect(plan.blobs.size() + plan.manifests.size());
    TRY(pusher.send_all(plan.blobs));
    TRY(pusher.send_all(plan.manifests));

    remote::ContentRef index{
        remote::ContentKind::Manifest, bundle.digest(), std::string(kIndexMediaType)};
    TRY(remote.store(index, index_bytes));
    TRY(remote.publish_index(index, index_bytes));

    PushResult result;
    result.bundle_digest = bundle.digest();
    result.spores = bundle.index().manifests.size();
    result.blobs_total = plan.blobs.size() + plan.manifests.size() + 1;
    result.blobs_uploaded = pusher.uploaded() + 1;
    result.blobs_present = pusher.present();
    result.bytes_uploaded = pusher.bytes_uploaded() + index_bytes.size();
    return result;
}

} // namespace spore::bundle
