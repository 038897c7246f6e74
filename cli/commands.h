#pragma once

#include <CLI/CLI.hpp>

namespace elephant::cli {

void register_commands(CLI::App& app);
// Runs the subcommand that parsed; throws elephant::Error on user errors.
void run_selected(CLI::App& app);

}  // namespace elephant::cli
