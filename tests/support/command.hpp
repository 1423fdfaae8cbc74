#pragma once
// Runs a shell command from a test and captures what it printed.

#include <string>

namespace pv::test {

struct CommandResult {
  int status = -1; // exit status; -1 if it could not run or did not exit normally
  std::string output;
};

// Runs `command` through /bin/sh (stderr merged into the output) and waits for it.
CommandResult run_command(const std::string& command);

} // namespace pv::test
