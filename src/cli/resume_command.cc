#include <CLI/CLI.hpp>

#include <memory>

#include "cli/commands.h"

#if defined(__aarch64__)
#include "ops/run.h"
#endif

namespace spore::cli {

namespace {

struct ResumeArguments {
    std::string path;
    unsigned timeout_seconds = 60;
    std::string console_log;
};

Result<int> resume(const ResumeArguments& arguments)
{
#if defined(__aarch64__)
    std::optional<std::string> console_log;
    if (!arguments.console_log.empty())
        console_log = arguments.console_log;
    return resume_spore(arguments.path, std::chrono::seconds(arguments.timeout_seconds), console_log);
#else
    (void)arguments;
    return Error::not_supported("resume: needs an aarch64 Linux host with KVM; on x86_64 use the lab: "
                                "scripts/lab -c 'spore resume DIR'");
#endif
}

} // namespace

void add_resume_command(CLI::App& app, Handler& handler)
{
    auto arguments = std::make_shared<ResumeArguments>();
    auto* command = app.add_subcommand("resume", "Resume a spore and reattach to the command it was running");
    command->add_option("spore", arguments->path, "The spore directory")->required();
    command->add_option("--timeout", arguments->timeout_seconds, "Seconds to wait for the guest agent")
        ->capture_default_str();
    command->add_option("--console-log", arguments->console_log, "Keep the guest console in this file");
    command->callback([&handler, arguments] { handler = [arguments] { return resume(*arguments); }; });
}

} // namespace spore::cli
