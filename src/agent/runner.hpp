#pragma once
// The agent's main job: load configuration (environment > .env file > defaults, with command-line
// overrides on top), set up logging, open the room (the mock room unless Podium credentials are
// set), build the backend(s), run, write the recording and the timeline, print a summary.
// Used by apps/podium-voices; callable in-process by tests.

#include <atomic>
#include <filesystem>
#include <iosfwd>
#include <map>
#include <optional>
#include <string>

namespace pv::agent {

struct RunOptions {
  std::optional<std::filesystem::path> env_file;
  bool check_config = false;
  // Command-line overrides of configuration variables (NAME -> value); they beat the environment.
  std::map<std::string, std::string> overrides;
};

// Exit codes: 0 ok, 2 configuration error, 3 runtime failure.
int run_agent(const RunOptions& options, const std::atomic<bool>& stop, std::ostream& out,
              std::ostream& err);

} // namespace pv::agent
