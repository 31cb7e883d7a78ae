// `spore pack` and `spore unpack`: spores to and from local bundles.

#include <CLI/CLI.hpp>

#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>

#include "bundle/pack.h"
#include "bundle/resolve.h"
#include "bundle/unpack.h"
#include "cli/commands.h"

namespace spore::cli {
namespace {

struct PackArguments {
    std::string spore;
    std::string children;
    std::string out;
    bool json = false;
};

Result<int> run_pack(const PackArguments& arguments)
{
    auto result = TRY(bundle::pack_bundle(arguments.spore, arguments.children, arguments.out));
    if (arguments.json) {
        nlohmann::ordered_json summary = {{"digest", result.digest}, {"out", arguments.out},
            {"children", result.children}, {"chunks", result.chunks}};
        std::printf("%s\n", summary.dump(2).c_str());
        return 0;
    }
    // The digest alone on stdout, so scripts can take it; the rest for people.
    std::printf("%s\n", result.digest.c_str());
    std::fprintf(stderr, "packed %s and %zu children into %s (%zu distinct chunks)\n",
        arguments.spore.c_str(), result.children, arguments.out.c_str(), result.chunks);
    return 0;
}

struct UnpackArguments {
    std::string bundle;
    std::string child;
    std::string out;
    std::string digest;
    bool json = false;
};

Result<int> run_unpack(const UnpackArguments& arguments)
{
    bundle::UnpackOptions options;
    if (!arguments.child.empty())
        options.child = TRY(bundle::normalize_child_name(arguments.child));
    if (!arguments.digest.empty())
        options.bundle_digest = arguments.digest;
    auto result = TRY(bundle::unpack_bundle(arguments.bundle, arguments.out, options));
    std::string name = options.child ? "child " + *options.child : std::string("parent");
    if (arguments.json) {
        nlohmann::ordered_json summary = {{"digest", result.bundle_digest},
            {"spore", options.child ? *options.child : "parent"},
            {"manifest_digest", result.manifest_digest}, {"out", arguments.out},
            {"chunks", result.chunks}};
        std::printf("%s\n", summary.dump(2).c_str());
        return 0;
    }
    std::fprintf(stderr, "unpacked the %s of %s into %s (%zu chunks)\n", name.c_str(),
        result.bundle_digest.c_str(), arguments.out.c_str(), result.chunks);
    return 0;
}

} // namespace

void add_pack_command(CLI::App& app, Handler& handler)
{
    auto arguments = std::make_shared<PackArguments>();
    auto* command
        = app.add_subcommand("pack", "Pack a spore, and optionally its fork batch, into a bundle");
    command->add_option("spore", arguments->spore, "The parent spore directory")->required();
    command->add_option("--children", arguments->children, "A fork batch of the spore to include");
    command->add_option("--out", arguments->out, "The new bundle directory")->required();
    command->add_flag("--json", arguments->json, "Print a JSON result");
    command->callback(
        [&handler, arguments] { handler = [arguments] { return run_pack(*arguments); }; });
}

void add_unpack_command(CLI::App& app, Handler& handler)
{
    auto arguments = std::make_shared<UnpackArguments>();
    auto* command
        = app.add_subcommand("unpack", "Write one spore of a bundle as a spore directory");
    command->add_option("bundle", arguments->bundle, "The bundle directory")->required();
    command->add_option("--child", arguments->child,
        "The child to unpack (e.g. 42 or 000042); the parent otherwise");
    command->add_option("--out", arguments->out, "The new spore directory")->required();
    command->add_option(
        "--digest", arguments->digest, "Refuse the bundle unless its digest is this sha256:<hex>");
    command->add_flag("--json", arguments->json, "Print a JSON result");
    command->callback(
        [&handler, arguments] { handler = [arguments] { return run_unpack(*arguments); }; });
}

} // namespace spore::cli
