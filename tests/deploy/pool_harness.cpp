#include "pool_harness.hpp"

#include <algorithm>
#include <fstream>
#include <random>
#include <set>
#include <sstream>
#include <stdexcept>
#include <thread>

#include <httplib.h>
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
  const auto listening = pv::test::read_listening_port(*process_, kWait);
  if (listening.port == 0) {
    throw std::runtime_error("personaplex-sim " + name_ + " did not start (stdout '" +
                             listening.line + "'): " + read_file(log_file_));
  }
  port_ = listening.port;
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
