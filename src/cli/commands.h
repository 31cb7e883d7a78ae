#pragma once

#include <functional>

#include "common/error.h"

namespace CLI {
class App;
}

namespace spore::cli {

// A parsed command, ready to run. Returns the process exit status.
using Handler = std::function<Result<int>()>;

// Each adds its subcommand to the application and sets handler when that
// subcommand is selected on the command line.
void add_version_command(CLI::App& app, Handler& handler);
void add_run_command(CLI::App& app, Handler& handler);
void add_resume_command(CLI::App& app, Handler& handler);
void add_inspect_command(CLI::App& app, Handler& handler);
void add_fork_command(CLI::App& app, Handler& handler);
void add_fanout_command(CLI::App& app, Handler& handler);
void add_pack_command(CLI::App& app, Handler& handler);
void add_unpack_command(CLI::App& app, Handler& handler);
void add_push_command(CLI::App& app, Handler& handler);
void add_pull_command(CLI::App& app, Handler& handler);

} // namespace spore::cli
