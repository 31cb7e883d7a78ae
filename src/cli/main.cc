// The `spore` command: parse, run one command handler, map its result to
// an exit status. Everything else lives below src/cli in the handlers.

#include <CLI/CLI.hpp>

#include <cstdio>

#include "cli/commands.h"
#include "common/log.h"

namespace {

// Exit status for failures of spore itself, as opposed to the guest
// command's own status, which `spore run` passes through.
constexpr int exit_spore_failure = 125;

} // namespace

int main(int argc, char** argv)
{
    CLI::App app{"SporeVM: warm a VM once, capture it, fork it, resume it fast", "spore"};
    app.require_subcommand(1);
    bool debug = false;
    app.add_flag("--debug", debug, "Verbose monitor setup and timings on stderr");

    spore::cli::Handler handler;
    spore::cli::add_version_command(app, handler);
    spore::cli::add_run_command(app, handler);
    spore::cli::add_resume_command(app, handler);
    spore::cli::add_inspect_command(app, handler);
    spore::cli::add_fork_command(app, handler);
    spore::cli::add_fanout_command(app, handler);
    spore::cli::add_pack_command(app, handler);
    spore::cli::add_unpack_command(app, handler);
    spore::cli::add_push_command(app, handler);
    spore::cli::add_pull_command(app, handler);

    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& error) {
        return app.exit(error);
    }
    spore::log::set_debug(debug);

    auto status = handler();
    if (!status) {
        std::fprintf(stderr, "spore: %s\n", status.error().message().c_str());
        return exit_spore_failure;
    }
    return *status;
}
