#include "commands.hpp"

namespace pv::apps {

// cmd_personaplex.cpp
void add_personaplex_command(CLI::App& app, const std::atomic<bool>& stop, int& exit_code);
// cmd_make_user_script.cpp
void add_make_user_script_command(CLI::App& app, const std::atomic<bool>& stop, int& exit_code);

void add_commands(CLI::App& app, const std::atomic<bool>& stop, int& exit_code) {
  add_personaplex_command(app, stop, exit_code);
  add_make_user_script_command(app, stop, exit_code);
}

} // namespace pv::apps
