#include <CLI/CLI.hpp>

#include <memory>

#include "cli/commands.h"
#include "cli/size.h"

#if defined(__aarch64__)
#include "ops/guest_link.h"
#include "ops/run.h"
#endif

namespace spore::cli {

namespace {

struct RunArguments {
    unsigned cpus = 1;
    std::string memory = "512M";
    std::string kernel;
    std::string initrd;
    std::string console_log;
    std::vector<std::string> environment;
    std::string working_directory = "/";
    unsigned boot_timeout_seconds = 60;
    std::string from;
    std::string capture;
    std::string capture_on;
    bool continue_after_capture = false;
    std::vector<std::string> command;
};

Result<int> run(const RunArguments& arguments, bool debug)
{
#if defined(__aarch64__)
    RunOptions options;
    options.cpus = arguments.cpus;
    options.memory = TRY(parse_memory_size(arguments.memory));
    if (!arguments.kernel.empty())
        options.kernel = arguments.kernel;
    if (!arguments.initrd.empty())
        options.initrd = arguments.initrd;
    if (!arguments.console_log.empty())
        options.console_log = arguments.console_log;
    options.environment = arguments.environment;
    options.working_directory = arguments.working_directory;
    options.argv = arguments.command;
    options.boot_timeout = std::chrono::seconds(arguments.boot_timeout_seconds);
    options.verbose_kernel = debug;
    if (!arguments.from.empty())
        options.from = arguments.from;
    if (!arguments.capture.empty())
        options.capture = arguments.capture;
    if (!arguments.capture_on.empty())
        options.capture_signal = TRY(parse_signal_name(arguments.capture_on));
    options.continue_after_capture = arguments.continue_after_capture;
    return run_command(options);
#else
    (void)arguments;
    (void)debug;
    return Error::not_supported("run: needs an aarch64 Linux host with KVM; on x86_64 use the lab: "
                                "scripts/lab -c 'spore run -- CMD'");
#endif
}

} // namespace

void add_run_command(CLI::App& app, Handler& handler)
{
    auto arguments = std::make_shared<RunArguments>();
    auto* command = app.add_subcommand("run", "Boot a throwaway VM, run CMD in it, exit with its status");
    command->add_option("--cpus", arguments->cpus, "Number of vCPUs (1 to 8)")->capture_default_str();
    command->add_option("--memory", arguments->memory, "Guest RAM, e.g. 512M or 2G")->capture_default_str();
    command->add_option("--kernel", arguments->kernel, "Boot this arm64 Image instead of the managed kernel");
    command->add_option("--initrd", arguments->initrd, "Boot this initrd instead of the embedded one");
    command->add_option("--env", arguments->environment, "Set NAME=VALUE in the command's environment")
        ->allow_extra_args(false);
    command->add_option("--workdir", arguments->working_directory, "Working directory of the command")
        ->capture_default_str();
    command->add_option("--boot-timeout", arguments->boot_timeout_seconds,
                        "Seconds to wait for the guest agent")
        ->capture_default_str();
    command->add_option("--console-log", arguments->console_log, "Keep the guest console in this file");
    command->add_option("--from", arguments->from, "Resume this spore instead of booting");
    command->add_option("--capture", arguments->capture, "Capture a spore into this new directory");
    command->add_option("--capture-on", arguments->capture_on,
                        "Capture the running command when this signal (e.g. USR1) arrives, then exit 0");
    command->add_flag("--continue-after-capture", arguments->continue_after_capture,
                      "After a --capture-on capture, keep the command running");
    command->add_option("command", arguments->command, "The command and its arguments, after --")->required();

    command->callback([&handler, &app, arguments] {
        bool debug = app.get_option("--debug")->as<bool>();
        handler = [arguments, debug] { return run(*arguments, debug); };
    });
}

} // namespace spore::cli
