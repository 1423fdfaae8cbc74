#pragma once
// Sub-commands of podium-voices, each in its own file (cmd_*.cpp). A command's callback stores
// its exit status in `exit_code`.

#include <atomic>

#include <CLI/CLI.hpp>

namespace pv::apps {

void add_commands(CLI::App& app, const std::atomic<bool>& stop, int& exit_code);

} // namespace pv::apps
