#include <CLI/CLI.hpp>

#include <cstdio>
#include <memory>

#include "bundle/inspect_bundle.h"
#include "cli/commands.h"
#include "ops/inspect.h"

namespace spore::cli {

void add_inspect_command(CLI::App& app, Handler& handler)
{
    struct InspectArguments {
        std::string path;
        bool json = false;
    };
    auto arguments = std::make_shared<InspectArguments>();
    auto* command = app.add_subcommand(
        "inspect", "Summarize a spore or a bundle after checking its manifests");
    command->add_option("spore", arguments->path, "The spore or bundle directory")->required();
    command->add_flag("--json", arguments->json, "Print a JSON object instead of text");
    command->callback([&handler, arguments] {
        handler = [arguments]() -> Result<int> {
            std::string summary;
            if (bundle::looks_like_bundle(arguments->path))
                summary = TRY(bundle::inspect_bundle(arguments->path, arguments->json));
            else
                summary = TRY(inspect_spore(arguments->path, arguments->json));
            std::fputs(summary.c_str(), stdout);
            return 0;
        };
    });
}

} // namespace spore::cli
