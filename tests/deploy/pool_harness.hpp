#pragma once
// Real processes for the pool tests: personaplex-sim servers, the config from
// deploy/haproxy/make-config.sh, and haproxy itself, each owned by an RAII guard that kills and
// reaps it on every path (also if the test process dies: PR_SET_PDEATHSIG). Everything listens on
// 127.0.0.1.
//
// What the tests observe:
//  * each simulator's own log (JSON lines on its stderr, kept in a file): which sessions it
//    accepted, queued, handshook and closed (SimProcess::events / max_concurrent_sessions);
//  * the pool's own view: GET /pool/status (servers up, sessions per server, queued upgrades).

#include "support/child_process.hpp"

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <sys/types.h>

namespace pv::deploy::test {

using namespace std::chrono_literals;

inline constexpr std::chrono::seconds kWait{30}; // only reached when something is broken

// A temporary directory removed by the destructor.
struct ScratchDir {
  ScratchDir();
  ~ScratchDir();
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  std::filesystem::path path;
};

using pv::test::ChildProcess;
using pv::test::ChildSpec;

// `name` on PATH or in the sbin directories (haproxy lives in /usr/sbin); "" if absent.
std::string find_program(const std::string& name);
// Reads a whole file ("" if it cannot).
std::string read_file(const std::filesystem::path& path);

struct SimOptions {
  std::string reply_text;         // --reply-text: lets a client tell which server answered
  std::vector<std::string> extra; // more flags (e.g. --cert/--key)
};

// A personaplex-sim process on 127.0.0.1:<ephemeral>, logging JSON to a file.
class SimProcess {
public:
  SimProcess(const std::filesystem::path& dir, std::string name, const SimOptions& options);

  const std::string& name() const { return name_; }
  const std::string& reply_text() const { return reply_text_; }
  uint16_t port() const { return port_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  ChildProcess& process() { return *process_; }

  // Its log events (SIM_CONNECT, SIM_QUEUED, SIM_HANDSHAKE, SIM_CLOSE, ...), in order.
  std::vector<nlohmann::json> events() const;
  int count(const std::string& event) const;
  // Most sessions it ever had open at once (from SIM_CONNECT to SIM_CLOSE of each session).
  int max_concurrent_sessions() const;

private:
  std::string name_;
  std::string reply_text_;
  std::filesystem::path log_file_;
  std::unique_ptr<ChildProcess> process_;
  uint16_t port_ = 0;
};

struct PoolOptions {
  std::string mode = "queue"; // PERSONAPLEX_POOL_MODE
  int check_ms = 200;         // fast health checks for tests
  int queue_timeout_s = 60;
  int retry_after_s = 1;
  std::string backend_tls = "none";
  std::string backend_ca_file;
  std::string front_cert_pem; // certificate + key: the pool serves wss/https
  std::string front_ca_file;  // the CA of that certificate (for the test's own status requests)
};

// haproxy -db with the generated config for `servers` (host:port), on an ephemeral port.
class HaproxyPool {
public:
  HaproxyPool(const std::filesystem::path& dir, const std::vector<std::string>& servers,
              const PoolOptions& options); // throws std::runtime_error (with haproxy's output)

  uint16_t port() const { return port_; }
  bool tls() const { return !options_.front_cert_pem.empty(); }
  // ws(s)://127.0.0.1:<port>
  std::string origin() const;
  const std::string& config_text() const { return config_; }
  std::string log() const { return read_file(log_file_); }

  // GET <path> on the pool (status code, body); status 0 if no answer.
  std::pair<int, std::string> get(const std::string& path) const;
  // GET /pool/status parsed; nullopt if no JSON answer.
  std::optional<nlohmann::json> status() const;
  // Waits until /pool/status reports `up` servers up (bounded).
  bool wait_up(int up, std::chrono::milliseconds timeout = kWait) const;

private:
  PoolOptions options_;
  std::filesystem::path config_file_;
  std::filesystem::path log_file_;
  std::string config_;
  std::unique_ptr<ChildProcess> process_;
  uint16_t port_ = 0;
};

// Runs deploy/haproxy/make-config.sh with `env`; (exit code, stdout, stderr).
struct ScriptResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};
ScriptResult run_make_config(const std::filesystem::path& dir,
                             const std::vector<std::pair<std::string, std::string>>& env);

// A TCP port on 127.0.0.1 that nothing listened on a moment ago.
uint16_t free_port();

} // namespace pv::deploy::test
