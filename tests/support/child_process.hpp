#pragma once
// A child process for tests that run the project's binaries (personaplex-sim, haproxy, scripts):
// spawned with extra environment variables, stdout to a pipe (read line by line, bounded) or a
// file, stderr to a file or /dev/null; killed with SIGKILL and reaped by the destructor, and also
// if the test process dies (PR_SET_PDEATHSIG).
//
// Owner: the test thread that made it.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <sys/types.h>

namespace pv::test {

struct ChildSpec {
  std::vector<std::string> argv;                        // argv[0] is the program's path
  std::vector<std::pair<std::string, std::string>> env; // set on top of this process's env
  std::filesystem::path stdout_file;                    // empty: stdout is a pipe (read_line)
  std::filesystem::path stderr_file;                    // empty: /dev/null
};

// One child process. The destructor sends SIGKILL and reaps it.
class ChildProcess {
public:
  explicit ChildProcess(const ChildSpec& spec); // throws std::runtime_error
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  pid_t pid() const { return pid_; }
  // A line from the stdout pipe; "" on timeout or end of output.
  std::string read_line(std::chrono::milliseconds timeout);
  // Reaps the child if it has exited; its exit code (128 + signal), or nullopt while it runs.
  std::optional<int> poll_exit();
  // Waits for the exit (bounded); nullopt if it still runs.
  std::optional<int> wait_exit(std::chrono::milliseconds timeout);
  // SIGTERM, then the exit code as wait_exit() gives it.
  std::optional<int> terminate(std::chrono::milliseconds timeout);
  // SIGKILL now and reap.
  void kill_now();

private:
  pid_t pid_ = -1;
  int stdout_fd_ = -1;
  std::string buffer_;
  std::optional<int> exit_code_;
};

// The first stdout line of personaplex-sim ("listening on 127.0.0.1:<port>"), read with a bound.
struct ListeningLine {
  std::string line;  // as printed ("" on timeout or when the process ended first)
  uint16_t port = 0; // 0 unless the line announces a port on 127.0.0.1
};
ListeningLine read_listening_port(ChildProcess& sim, std::chrono::milliseconds timeout);

} // namespace pv::test
