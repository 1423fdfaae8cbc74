#include "commands.hpp"

namespace pv::apps {

void add_commands(CLI::App& app, const std::atomic<bool>& stop, int& exit_code) {
  (void)app;
  (void)stop;
  (void)exit_code;
}

} // namespace pv::apps
