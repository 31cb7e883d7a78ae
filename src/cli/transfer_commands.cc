// `spore push` and `spore pull`: bundles to and from remote stores.

#include <CLI/CLI.hpp>

#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>

#include "bundle/blob_cache.h"
#include "bundle/pull.h"
#include "bundle/push.h"
#include "bundle/resolve.h"
#include "bundle/unpack.h"
#include "cli/commands.h"
#include "cli/progress.h"
#include "remote/open_remote.h"

namespace spore::cli {
namespace {

// Flags every command that reaches a remote store takes.
struct RemoteFlags {
    remote::RemoteOptions options;
    unsigned jobs = 4;
    bool json = false;

    void add_to(CLI::App& command)
    {
        command.add_option("--cacert", options.ca_file,
            "CA bundle for HTTPS (default: SSL_CERT_FILE, else the system's)");
        command.add_option("--s3-endpoint", options.s3_endpoint,
            "S3 endpoint URL (default: AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL, else AWS)");
        command.add_option("--s3-region", options.s3_region,
            "S3 region (default: AWS_REGION, AWS_DEFAULT_REGION, else us-east-1)");
        command.add_flag(
            "--plain-http", options.plain_http, "Speak plain HTTP to an oci:// registry");
        command.add_option("--jobs", jobs, "Transfers at once (default 4)")
            ->check(CLI::Range(1, 64));
        command.add_flag("--json", json, "Print a JSON result on stdout");
    }
};

struct PushArguments {
    std::string bundle;
    std::string destination;
    RemoteFlags remote;
};

Result<int> run_push(const PushArguments& arguments)
{
    remote::Location location = TRY(remote::parse_location(arguments.destination));
    if (location.digest)
        return Error::invalid(
            arguments.destination + ": a push destination takes no digest (push prints it)");
    auto destination = TRY(remote::open_remote(location, arguments.remote.options));

    bundle::PushOptions options;
    options.jobs = arguments.remote.jobs;
    ProgressLine progress("push " + location.text, "blobs");
    if (!arguments.remote.json) {
        options.progress = [&progress](const bundle::PushProgress& now) {
            progress.update(now.blobs_done, now.blobs_total, now.bytes_done, now.bytes_total);
        };
    }
    auto result = TRY(bundle::push_bundle(arguments.bundle, *destination, options));
    progress.finish();

    if (arguments.remote.json) {
        nlohmann::ordered_json summary = {{"digest", result.bundle_digest},
            {"destination", location.text}, {"spores", result.spores},
            {"blobs", result.blobs_total}, {"blobs_uploaded", result.blobs_uploaded},
            {"blobs_present", result.blobs_present}, {"bytes_uploaded", result.bytes_uploaded}};
        std::printf("%s\n", summary.dump(2).c_str());
        return 0;
    }
    std::printf("%s\n", result.bundle_digest.c_str());
    std::fprintf(stderr,
        "pushed %llu spores to %s: %llu of %llu blobs sent (%s), %llu already there\n",
        static_cast<unsigned long long>(result.spores), location.text.c_str(),
        static_cast<unsigned long long>(result.blobs_uploaded),
        static_cast<unsigned long long>(result.blobs_total),
        format_bytes(result.bytes_uploaded).c_str(),
        static_cast<unsigned long long>(result.blobs_present));
    return 0;
}

struct PullArguments {
    std::string source;
    std::string child;
    std::string out;
    std::string cache_directory;
    bool no_cache = false;
    RemoteFlags remote;
};

// A bundle directory on this host: unpacked in place (its blobs are
// linked, not copied), pinned to the digest only if one was given.
Result<int> pull_local(const PullArguments& arguments, const remote::Location& location,
    const std::optional<std::string>& child)
{
    bundle::UnpackOptions options;
    options.child = child;
    options.bundle_digest = location.digest;
    auto result = TRY(bundle::unpack_bundle(location.path, arguments.out, options));
    if (arguments.remote.json) {
        nlohmann::ordered_json summary = {{"digest", result.bundle_digest},
            {"spore", child.value_or("parent")}, {"manifest_digest", result.manifest_digest},
            {"out", arguments.out}, {"chunks", result.chunks}, {"chunks_fetched", result.chunks},
            {"chunks_cached", 0}, {"bytes_fetched", nullptr}, {"bytes_cached", 0}};
        std::printf("%s\n", summary.dump(2).c_str());
    } else {
        std::fprintf(stderr, "pulled the %s of %s into %s (%zu chunks, from a local bundle)\n",
            child ? ("child " + *child).c_str() : "parent", result.bundle_digest.c_str(),
            arguments.out.c_str(), result.chunks);
    }
    return 0;
}

Result<int> run_pull(const PullArguments& arguments)
{
    remote::Location location = TRY(remote::parse_location(arguments.source));
    std::optional<std::string> child;
    if (!arguments.child.empty())
        child = TRY(bundle::normalize_child_name(arguments.child));
    if (location.kind == remote::LocationKind::Directory)
        return pull_local(arguments, location, child);
    if (!location.digest) {
        return Error::invalid(arguments.source
            + ": a remote pull must be pinned to the bundle digest: " + location.text
            + "@sha256:<hex> (spore push prints it)");
    }
    auto source = TRY(remote::open_remote(location, arguments.remote.options));

    std::optional<bundle::BlobCache> cache;
    if (!arguments.no_cache) {
        cache = arguments.cache_directory.empty()
            ? TRY(bundle::BlobCache::open_default())
            : TRY(bundle::BlobCache::open(arguments.cache_directory));
    }
    bundle::PullOptions options;
    options.bundle_digest = *location.digest;
    options.child = child;
    options.cache = cache ? &*cache : nullptr;
    options.jobs = arguments.remote.jobs;
    std::string name = child ? *child : std::string("parent");
    ProgressLine progress("pull " + name, "chunks");
    if (!arguments.remote.json) {
        options.progress = [&progress](const bundle::PullProgress& now) {
            progress.update(now.chunks_done, now.chunks_total, now.bytes_done, now.bytes_total);
        };
    }
    auto result = TRY(bundle::pull_spore(*source, arguments.out, options));
    progress.finish();

    if (arguments.remote.json) {
        nlohmann::ordered_json summary = {{"digest", result.bundle_digest}, {"spore", name},
            {"manifest_digest", result.manifest_digest}, {"out", arguments.out},
            {"chunks", result.chunks_total}, {"chunks_fetched", result.chunks_fetched},
            {"chunks_cached", result.chunks_cached}, {"bytes_fetched", result.bytes_fetched},
            {"bytes_cached", result.bytes_cached}};
        std::printf("%s\n", summary.dump(2).c_str());
        return 0;
    }
    std::fprintf(stderr,
        "pulled the %s of %s into %s: %llu chunks fetched, %llu from the cache; %s transferred\n",
        child ? ("child " + *child).c_str() : "parent", result.bundle_digest.c_str(),
        arguments.out.c_str(), static_cast<unsigned long long>(result.chunks_fetched),
        static_cast<unsigned long long>(result.chunks_cached),
        format_bytes(result.bytes_fetched).c_str());
    return 0;
}

} // namespace

void add_push_command(CLI::App& app, Handler& handler)
{
    auto arguments = std::make_shared<PushArguments>();
    auto* command = app.add_subcommand(
        "push", "Copy a bundle to s3://, oci:// or a directory; prints its digest");
    command->add_option("bundle", arguments->bundle, "The bundle directory")->required();
    command
        ->add_option("destination", arguments->destination,
            "s3://BUCKET/PREFIX, oci://HOST/REPO[:TAG] or PATH")
        ->required();
    arguments->remote.add_to(*command);
    command->callback(
        [&handler, arguments] { handler = [arguments] { return run_push(*arguments); }; });
}

void add_pull_command(CLI::App& app, Handler& handler)
{
    auto arguments = std::make_shared<PullArguments>();
    auto* command = app.add_subcommand(
        "pull", "Fetch one spore of a bundle, verified, into a spore directory");
    command
        ->add_option("source", arguments->source,
            "s3://..., https://..., oci://... with @sha256:<bundle digest>, or a bundle PATH")
        ->required();
    command->add_option(
        "--child", arguments->child, "The child to pull (e.g. 42 or 000042); the parent otherwise");
    command->add_option("--out", arguments->out, "The new spore directory")->required();
    command->add_option("--cache-dir", arguments->cache_directory,
        "Blob cache directory (default ~/.cache/sporevm/blobs)");
    command->add_flag("--no-cache", arguments->no_cache, "Neither use nor fill the blob cache");
    arguments->remote.add_to(*command);
    command->callback(
        [&handler, arguments] { handler = [arguments] { return run_pull(*arguments); }; });
}

} // namespace spore::cli
