#include <CLI/CLI.hpp>

#include <chrono>
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "spore/fork.h"

namespace spore::cli {

namespace {

struct ForkArguments {
    std::string parent;
    uint32_t count = 0;
    std::string out;
    bool json = false;
};

Result<int> run_fork(const ForkArguments& arguments)
{
    auto started = std::chrono::steady_clock::now();
    auto result = TRY(fork_spore(arguments.parent, arguments.count, arguments.out));
    double milliseconds = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count();
    if (arguments.json) {
        nlohmann::ordered_json summary = {{"parent", arguments.parent},
                                          {"out", arguments.out},
                                          {"batch_id", result.batch_id},
                                          {"children", result.children.size()},
                                          {"milliseconds", milliseconds}};
        std::printf("%s\n", summary.dump(2).c_str());
    } else {
        std::printf("forked %zu children of %s into %s (batch %s) in %.1f ms\n", result.children.size(),
                    arguments.parent.c_str(), arguments.out.c_str(), result.batch_id.c_str(), milliseconds);
    }
    return 0;
}

} // namespace

void add_fork_command(CLI::App& app, Handler& handler)
{
    auto arguments = std::make_shared<ForkArguments>();
    auto* command = app.add_subcommand("fork", "Write N child spores sharing the parent's chunks");
    command->add_option("spore", arguments->parent, "The parent spore directory")->required();
    command->add_option("--count", arguments->count, "Number of children (1 to 10000)")->required();
    command->add_option("--out", arguments->out, "The new batch directory")->required();
    command->add_flag("--json", arguments->json, "Print a JSON result");
    command->callback([&handler, arguments] { handler = [arguments] { return run_fork(*arguments); }; });
}

} // namespace spore::cli
