// The real personaplex-sim binary: it prints its ephemeral port, serves a handshake, and exits 0
// on SIGTERM.

#include "sim_test_util.hpp"

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <string>
#include <thread>

#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

extern char** environ;

namespace pv::sim {
namespace {

using namespace std::chrono_literals;

class SimProcess {
public:
  explicit SimProcess(std::vector<std::string> args) {
    int fds[2];
    if (::pipe(fds) != 0) {
      throw std::runtime_error("pipe");
    }
    read_fd_ = fds[0];
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, fds[1], STDOUT_FILENO);
    posix_spawn_file_actions_addclose(&actions, fds[0]);
    const std::string binary = std::string(PV_BINARY_DIR) + "/apps/personaplex-sim";
    args.insert(args.begin(), binary);
    std::vector<char*> argv;
    for (auto& a : args) {
      argv.push_back(a.data());
    }
    argv.push_back(nullptr);
    const int rc = posix_spawn(&pid_, binary.c_str(), &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    ::close(fds[1]);
    if (rc != 0) {
      pid_ = -1;
      throw std::runtime_error("posix_spawn " + binary + ": " + std::strerror(rc));
    }
  }
  ~SimProcess() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      int status = 0;
      ::waitpid(pid_, &status, 0);
    }
    ::close(read_fd_);
  }

  // Reads stdout until a full line arrives (bounded).
  std::string read_line(std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (buffer_.find('\n') == std::string::npos) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) {
        return {};
      }
      pollfd p{read_fd_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) {
        continue;
      }
      char chunk[256];
      const ssize_t n = ::read(read_fd_, chunk, sizeof chunk);
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

  // SIGTERM, then the exit status (bounded; -1 if it did not exit).
  int terminate(std::chrono::milliseconds timeout) {
    ::kill(pid_, SIGTERM);
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      int status = 0;
      const pid_t r = ::waitpid(pid_, &status, WNOHANG);
      if (r == pid_) {
        pid_ = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      }
      std::this_thread::sleep_for(20ms);
    }
    return -1;
  }

private:
  pid_t pid_ = -1;
  int read_fd_ = -1;
  std::string buffer_;
};

TEST(SimApp, PrintsItsPortServesAHandshakeAndExitsCleanlyOnSigterm) {
  SimProcess process(
      {"--port", "0", "--prompt-step-ms", "1", "--voice-frames", "2", "--log-level", "warn"});
  const std::string line = process.read_line(30s);
  const std::string prefix = "listening on 127.0.0.1:";
  ASSERT_EQ(line.rfind(prefix, 0), 0u) << "stdout: '" << line << "'";
  const int port = std::stoi(line.substr(prefix.size()));
  ASSERT_GT(port, 0);

  test::RawWsOptions options;
  options.port = static_cast<uint16_t>(port);
  test::RawWsClient client(options);
  const auto upgrade = client.connect();
  ASSERT_TRUE(upgrade.ok) << upgrade.http_status << " " << upgrade.error;
  ASSERT_TRUE(client.wait_messages(3));
  EXPECT_EQ(client.messages()[0].bytes, std::vector<uint8_t>{0x00});
  EXPECT_EQ(client.messages()[1].bytes.size(), 48u);
  EXPECT_EQ(client.messages()[2].bytes.size(), 54u);

  EXPECT_EQ(process.terminate(20s), 0);
  ASSERT_TRUE(client.wait_end());
}

TEST(SimApp, FaultFlagsApplyToTheChosenSession) {
  SimProcess process({"--port", "0", "--prompt-step-ms", "1", "--voice-frames", "2",
                      "--reject-status", "429", "--retry-after", "3", "--fault-session", "2",
                      "--log-level", "warn"});
  const std::string line = process.read_line(30s);
  const std::string prefix = "listening on 127.0.0.1:";
  ASSERT_EQ(line.rfind(prefix, 0), 0u) << "stdout: '" << line << "'";
  test::RawWsOptions options;
  options.port = static_cast<uint16_t>(std::stoi(line.substr(prefix.size())));
  {
    test::RawWsClient first(options);
    ASSERT_TRUE(first.connect().ok);
    ASSERT_TRUE(first.wait_messages(3));
    first.close();
    ASSERT_TRUE(first.wait_end());
  }
  test::RawWsClient second(options);
  const auto upgrade = second.connect();
  EXPECT_FALSE(upgrade.ok);
  EXPECT_EQ(upgrade.http_status, 429);
  EXPECT_EQ(upgrade.retry_after, "3");
  test::RawWsClient third(options);
  EXPECT_TRUE(third.connect().ok);
  EXPECT_TRUE(third.wait_messages(3));
  EXPECT_EQ(process.terminate(20s), 0);
}

TEST(SimApp, RejectsBadOptions) {
  SimProcess process({"--max-sessions", "0"});
  EXPECT_EQ(process.read_line(20s), ""); // nothing on stdout: it exits with an error
  EXPECT_NE(process.terminate(20s), 0);
}

} // namespace
} // namespace pv::sim
