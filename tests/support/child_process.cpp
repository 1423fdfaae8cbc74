#include "support/child_process.hpp"

#include <cerrno>
#include <charconv>
#include <csignal>
#include <cstring>
#include <map>
#include <stdexcept>
#include <thread>

#include <fcntl.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace pv::test {

using namespace std::chrono_literals;

ChildProcess::ChildProcess(const ChildSpec& spec) {
  if (spec.argv.empty()) {
    throw std::runtime_error("ChildProcess: no program");
  }
  // Everything the child needs is prepared before fork(): after it, only async-signal-safe calls.
  std::vector<std::string> args = spec.argv;
  std::vector<char*> argv;
  for (auto& a : args) {
    argv.push_back(a.data());
  }
  argv.push_back(nullptr);
  std::map<std::string, std::string> env_map;
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string entry(*e);
    const auto eq = entry.find('=');
    if (eq != std::string::npos) {
      env_map[entry.substr(0, eq)] = entry.substr(eq + 1);
    }
  }
  for (const auto& [k, v] : spec.env) {
    env_map[k] = v;
  }
  std::vector<std::string> env_strings;
  for (const auto& [k, v] : env_map) {
    env_strings.push_back(k + "=" + v);
  }
  std::vector<char*> envp;
  for (auto& e : env_strings) {
    envp.push_back(e.data());
  }
  envp.push_back(nullptr);
  const std::string out_path = spec.stdout_file.string();
  const std::string err_path = spec.stderr_file.empty() ? "/dev/null" : spec.stderr_file.string();

  int out_pipe[2] = {-1, -1};
  if (spec.stdout_file.empty() && ::pipe2(out_pipe, O_CLOEXEC) != 0) {
    throw std::runtime_error(std::string("pipe: ") + std::strerror(errno));
  }
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) {
    throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
  }
  if (pid == 0) {
    // The child dies with the test process, whatever way that ends.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) {
      ::_exit(127);
    }
    const int out = spec.stdout_file.empty()
                        ? out_pipe[1]
                        : ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    const int err = ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    const int in = ::open("/dev/null", O_RDONLY);
    if (out < 0 || err < 0 || in < 0 || ::dup2(in, 0) < 0 || ::dup2(out, 1) < 0 ||
        ::dup2(err, 2) < 0) {
      ::_exit(127);
    }
    ::close_range(3, ~0U, 0); // no inherited sockets or pipes of the test process
    ::execve(argv[0], argv.data(), envp.data());
    ::_exit(127);
  }
  pid_ = pid;
  if (out_pipe[1] >= 0) {
    ::close(out_pipe[1]);
    stdout_fd_ = out_pipe[0];
  }
}

ChildProcess::~ChildProcess() {
  kill_now();
  if (stdout_fd_ >= 0) {
    ::close(stdout_fd_);
  }
}

void ChildProcess::kill_now() {
  if (pid_ > 0 && !exit_code_) {
    ::kill(pid_, SIGKILL);
    int status = 0;
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }
}

std::optional<int> ChildProcess::poll_exit() {
  if (exit_code_ || pid_ <= 0) {
    return exit_code_;
  }
  int status = 0;
  if (::waitpid(pid_, &status, WNOHANG) == pid_) {
    exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }
  return exit_code_;
}

std::optional<int> ChildProcess::terminate(std::chrono::milliseconds timeout) {
  if (pid_ > 0 && !poll_exit()) {
    ::kill(pid_, SIGTERM);
  }
  return wait_exit(timeout);
}

std::optional<int> ChildProcess::wait_exit(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!poll_exit() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(10ms);
  }
  return poll_exit();
}

std::string ChildProcess::read_line(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (buffer_.find('\n') == std::string::npos) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0 || stdout_fd_ < 0) {
      return {};
    }
    pollfd p{stdout_fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) {
      continue;
    }
    char chunk[256];
    const ssize_t n = ::read(stdout_fd_, chunk, sizeof chunk);
    if (n <= 0) {
      return {};
    }
    buffer_.append(chunk, static_cast<std::size_t>(n));
  }
  const auto eol = buffer_.find('\n');
  std::string line = buffer_.substr(0, eol);
  buffer_.erase(0, eol + 1);
  return line;
}

ListeningLine read_listening_port(ChildProcess& sim, std::chrono::milliseconds timeout) {
  ListeningLine out;
  out.line = sim.read_line(timeout);
  constexpr std::string_view kPrefix = "listening on 127.0.0.1:";
  if (out.line.rfind(kPrefix, 0) != 0) {
    return out;
  }
  const char* first = out.line.data() + kPrefix.size();
  const char* last = out.line.data() + out.line.size();
  uint16_t port = 0;
  const auto [end, ec] = std::from_chars(first, last, port);
  if (ec == std::errc{} && end == last) {
    out.port = port;
  }
  return out;
}

} // namespace pv::test
