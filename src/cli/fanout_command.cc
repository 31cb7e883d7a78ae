#include <CLI/CLI.hpp>

#include <unistd.h>

#include <climits>
#include <cstdio>
#include <memory>

#include "cli/commands.h"
#include "ops/fanout.h"

namespace spore::cli {

namespace {

struct FanoutArguments {
    std::string batch;
    bool parallel = false;
    unsigned jobs = 0;
    std::string duration;
    bool json = false;
    std::vector<std::string> command;
};

std::string own_executable()
{
    char path[PATH_MAX];
    ssize_t length = readlink("/proc/self/exe", path, sizeof path - 1);
    return length > 0 ? std::string(path, static_cast<size_t>(length)) : "spore";
}

Result<int> run_fanout(const FanoutArguments& arguments)
{
    FanoutOptions options;
    options.batch = arguments.batch;
    options.command = arguments.command;
    options.spore_executable = own_executable();
    auto children = TRY(list_children(arguments.batch));
    options.jobs = arguments.jobs > 0 ? arguments.jobs
                   : arguments.parallel ? static_cast<unsigned>(children.size())
                                        : 1;
    if (!arguments.duration.empty())
        options.duration = TRY(parse_duration(arguments.duration));

    auto result = TRY(fanout(options));
    std::string summary = fanout_summary(result, arguments.json);
    // The summary goes where machines and people look for it: stdout with
    // --json, stderr otherwise so that it never mixes with child output.
    std::fputs(summary.c_str(), arguments.json ? stdout : stderr);
    return result.any_failed() ? 1 : 0;
}

} // namespace

void add_fanout_command(CLI::App& app, Handler& handler)
{
    auto arguments = std::make_shared<FanoutArguments>();
    auto* command = app.add_subcommand("fanout", "Resume the children of a fork batch, output prefixed per child");
    command->add_option("batch", arguments->batch, "The fork batch directory")->required();
    command->add_flag("--parallel", arguments->parallel, "Run every child at once");
    command->add_option("--jobs", arguments->jobs, "Run at most this many children at once");
    command->add_option("--for", arguments->duration, "Stop children still running after this long (e.g. 20s)");
    command->add_flag("--json", arguments->json, "Print the per-child summary as JSON on stdout");
    command->add_option("command", arguments->command, "Run this in each child, after --; otherwise reattach");
    command->callback([&handler, arguments] { handler = [arguments] { return run_fanout(*arguments); }; });
}

} // namespace spore::cli
