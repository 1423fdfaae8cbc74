#include "pool_harness.hpp"

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <stdexcept>
#include <thread>

#include <fcntl.h>
#include <httplib.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

extern char** environ;

namespace pv::deploy::test {

ScratchDir::ScratchDir() {
  std::random_device rd;
  path = std::filesystem::temp_directory_path() /
         ("pv-pool-" + std::to_string(rd()) + std::to_string(rd()));
  std::filesystem::create_directories(path);
}

ScratchDir::~ScratchDir() {
  std::error_code ec;
  std::filesystem::remove_all(path, ec);
}

// --- ChildProcess -------------------------------------------------------------------------------

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

std::string find_program(const std::string& name) {
  std::vector<std::string> dirs;
  if (const char* path = std::getenv("PATH")) {
    std::stringstream ss(path);
    for (std::string dir; std::getline(ss, dir, ':');) {
      dirs.push_back(dir);
    }
  }
  for (const char* dir : {"/usr/sbin", "/sbin", "/usr/local/sbin"}) {
    dirs.emplace_back(dir);
  }
  for (const auto& dir : dirs) {
    const auto candidate = std::filesystem::path(dir) / name;
    if (!dir.empty() && ::access(candidate.c_str(), X_OK) == 0) {
      return candidate.string();
    }
  }
  return {};
}

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

uint16_t free_port() {
  boost::asio::io_context io;
  boost::asio::ip::tcp::acceptor acceptor(
      io, boost::asio::ip::tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), 0));
  return acceptor.local_endpoint().port();
}

// --- SimProcess ---------------------------------------------------------------------------------

SimProcess::SimProcess(const std::filesystem::path& dir, std::string name,
                       const SimOptions& options)
    : name_(std::move(name)), reply_text_(options.reply_text), log_file_(dir / (name_ + ".log")) {
  ChildSpec spec;
  spec.argv = {std::string(PV_BINARY_DIR) + "/apps/personaplex-sim",
               "--host",
               "127.0.0.1",
               "--port",
               "0",
               "--prompt-step-ms",
               "1",
               "--voice-frames",
               "4",
               "--backchannel-probability",
               "0",
               "--log-format",
               "json",
               "--log-level",
               "info"};
  if (!options.reply_text.empty()) {
    spec.argv.push_back("--reply-text");
    spec.argv.push_back(options.reply_text);
  }
  spec.argv.insert(spec.argv.end(), options.extra.begin(), options.extra.end());
  spec.stderr_file = log_file_;
  process_ = std::make_unique<ChildProcess>(spec);
  const std::string line = process_->read_line(kWait);
  const std::string prefix = "listening on 127.0.0.1:";
  if (line.rfind(prefix, 0) != 0) {
    throw std::runtime_error("personaplex-sim " + name_ + " did not start (stdout '" + line +
                             "'): " + read_file(log_file_));
  }
  port_ = static_cast<uint16_t>(std::stoi(line.substr(prefix.size())));
}

std::vector<nlohmann::json> SimProcess::events() const {
  std::vector<nlohmann::json> out;
  std::stringstream lines(read_file(log_file_));
  for (std::string line; std::getline(lines, line);) {
    auto parsed = nlohmann::json::parse(line, nullptr, false);
    if (parsed.is_object() && parsed.contains("event")) {
      out.push_back(std::move(parsed));
    }
  }
  return out;
}

int SimProcess::count(const std::string& event) const {
  const auto all = events();
  return static_cast<int>(std::count_if(all.begin(), all.end(), [&](const nlohmann::json& e) {
    return e.value("event", std::string()) == event;
  }));
}

int SimProcess::max_concurrent_sessions() const {
  std::set<int64_t> open;
  std::size_t most = 0;
  for (const auto& e : events()) {
    const std::string name = e.value("event", std::string());
    if (!e.contains("session")) {
      continue;
    }
    const int64_t session = e["session"].get<int64_t>();
    if (name == "SIM_CONNECT") {
      open.insert(session);
      most = std::max(most, open.size());
    } else if (name == "SIM_CLOSE") {
      open.erase(session);
    }
  }
  return static_cast<int>(most);
}

// --- make-config.sh and haproxy ------------------------------------------------------------------

ScriptResult run_make_config(const std::filesystem::path& dir,
                             const std::vector<std::pair<std::string, std::string>>& env) {
  static int runs = 0;
  const auto out = dir / ("make-config-" + std::to_string(++runs) + ".out");
  const auto err = dir / ("make-config-" + std::to_string(runs) + ".err");
  ChildSpec spec;
  spec.argv = {"/bin/bash", std::string(PV_SOURCE_DIR) + "/deploy/haproxy/make-config.sh"};
  // Only what the test sets: no PERSONAPLEX_* of the developer's shell leaks in.
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string entry(*e);
    if (entry.rfind("PERSONAPLEX_", 0) == 0) {
      spec.env.emplace_back(entry.substr(0, entry.find('=')), "");
    }
  }
  spec.env.insert(spec.env.end(), env.begin(), env.end());
  spec.stdout_file = out;
  spec.stderr_file = err;
  ChildProcess process(spec);
  ScriptResult result;
  result.exit_code = process.wait_exit(kWait).value_or(-1);
  result.out = read_file(out);
  result.err = read_file(err);
  return result;
}

HaproxyPool::HaproxyPool(const std::filesystem::path& dir, const std::vector<std::string>& servers,
                         const PoolOptions& options)
    : options_(options), config_file_(dir / "haproxy.cfg"), log_file_(dir / "haproxy.log") {
  const std::string haproxy = find_program("haproxy");
  if (haproxy.empty()) {
    throw std::runtime_error("haproxy not found (PATH, /usr/sbin): install the Debian package "
                             "'haproxy' (scripts/install-deps.sh lists it)");
  }
  std::string pool;
  for (const auto& s : servers) {
    pool += (pool.empty() ? "" : ",") + s;
  }
  // The port is free when chosen; another process could take it before haproxy binds it, so a
  // failed start is retried with a new port.
  std::string failures;
  for (int attempt = 0; attempt < 3; ++attempt) {
    port_ = free_port();
    std::vector<std::pair<std::string, std::string>> env = {
        {"PERSONAPLEX_POOL", pool},
        {"PERSONAPLEX_POOL_BIND", "127.0.0.1:" + std::to_string(port_)},
        {"PERSONAPLEX_POOL_MODE", options.mode},
        {"PERSONAPLEX_POOL_CHECK_MS", std::to_string(options.check_ms)},
        {"PERSONAPLEX_POOL_QUEUE_TIMEOUT_S", std::to_string(options.queue_timeout_s)},
        {"PERSONAPLEX_POOL_RETRY_AFTER_S", std::to_string(options.retry_after_s)},
        {"PERSONAPLEX_BACKEND_TLS", options.backend_tls},
        {"PERSONAPLEX_BACKEND_CA_FILE", options.backend_ca_file},
        {"PERSONAPLEX_POOL_TLS_CERT", options.front_cert_pem}};
    const auto generated = run_make_config(dir, env);
    if (generated.exit_code != 0) {
      throw std::runtime_error("make-config.sh failed (" + std::to_string(generated.exit_code) +
                               "): " + generated.err);
    }
    config_ = generated.out;
    std::ofstream(config_file_) << config_;
    ChildSpec spec;
    spec.argv = {haproxy, "-db", "-f", config_file_.string()};
    spec.stdout_file = dir / "haproxy.out";
    spec.stderr_file = log_file_;
    process_ = std::make_unique<ChildProcess>(spec);
    // Listening as soon as GET /pool/status answers (200 or 503: HAProxy itself answers).
    const auto deadline = std::chrono::steady_clock::now() + kWait;
    while (std::chrono::steady_clock::now() < deadline && !process_->poll_exit()) {
      if (status().has_value()) {
        return;
      }
      std::this_thread::sleep_for(20ms);
    }
    failures += "attempt " + std::to_string(attempt + 1) + ": " + read_file(log_file_) + "\n";
    process_.reset();
  }
  throw std::runtime_error("haproxy did not start:\n" + failures + "config:\n" + config_);
}

std::string HaproxyPool::origin() const {
  return std::string(tls() ? "wss" : "ws") + "://127.0.0.1:" + std::to_string(port_);
}

std::pair<int, std::string> HaproxyPool::get(const std::string& path) const {
  auto fetch = [&](httplib::ClientImpl& client) -> std::pair<int, std::string> {
    client.set_connection_timeout(2, 0);
    client.set_read_timeout(5, 0);
    const auto result = client.Get(path.c_str());
    if (!result) {
      return {0, httplib::to_string(result.error())};
    }
    return {result->status, result->body};
  };
  if (tls()) {
    httplib::SSLClient client("127.0.0.1", port_);
    client.set_ca_cert_path(options_.front_ca_file.c_str());
    client.enable_server_certificate_verification(true);
    return fetch(client);
  }
  httplib::ClientImpl client("127.0.0.1", port_);
  return fetch(client);
}

std::optional<nlohmann::json> HaproxyPool::status() const {
  const auto [code, body] = get("/pool/status");
  if (code == 0) {
    return std::nullopt;
  }
  auto parsed = nlohmann::json::parse(body, nullptr, false);
  if (!parsed.is_object()) {
    return std::nullopt;
  }
  return parsed;
}

bool HaproxyPool::wait_up(int up, std::chrono::milliseconds timeout) const {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  do {
    const auto s = status();
    if (s && s->value("up", -1) == up) {
      return true;
    }
    std::this_thread::sleep_for(20ms);
  } while (std::chrono::steady_clock::now() < deadline);
  return false;
}

} // namespace pv::deploy::test
