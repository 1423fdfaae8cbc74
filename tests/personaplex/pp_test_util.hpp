#pragma once
// Shared tools for the PersonaPlex client tests: speech from flite, the simulator with fast
// settings, session parameters for tests, and a SessionDriver that plays the room clock for a
// single ClientSession (one 20 ms frame sent and one pulled per period).

#include "personaplex/client_session.hpp"
#include "sim/sim_server.hpp"

#include <atomic>
#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace pv::personaplex::test {

using namespace std::chrono_literals;

inline constexpr std::chrono::seconds kWait{20}; // only reached when something is broken

// flite kal16 speech of `text` at `rate_hz`.
std::vector<int16_t> speak(const std::string& text, int rate_hz);
std::vector<int16_t> silence(int rate_hz, int ms);
void append(std::vector<int16_t>& to, const std::vector<int16_t>& more);

// Simulator on 127.0.0.1:0 with a short prompt phase (4 voice frames, 1 ms per step).
sim::SimParams fast_sim_params();
std::unique_ptr<sim::SimServer> start_sim(const sim::SimParams& params);

// The /api/chat URL for `server` (built by the client's own request builder).
std::string chat_url(const sim::SimServer& server,
                     const std::string& text_prompt = "You are a test.",
                     const std::string& voice = "NATF0.pt", std::optional<int64_t> seed = {});

// Test-sized timeouts (generous: CI is noisy).
SessionParams session_params(const std::string& url);

// Waits until pred() or the timeout; returns the last pred().
bool wait_for(const std::function<bool()>& pred, std::chrono::milliseconds timeout = kWait);

// A TCP port on 127.0.0.1 that nothing listens on (bound, then released).
uint16_t unused_port();

// Plays the room clock for one session on its own thread: every `period`, sends the next 20 ms
// of `source` (24 kHz; silence once it is used up) and pulls 20 ms of playout (48 kHz).
class SessionDriver {
public:
  SessionDriver(std::shared_ptr<ClientSession> session, std::vector<int16_t> source_24k = {},
                std::chrono::microseconds period = 20ms);
  ~SessionDriver();
  SessionDriver(const SessionDriver&) = delete;
  SessionDriver& operator=(const SessionDriver&) = delete;

  void stop();
  std::vector<int16_t> output() const; // everything pulled (48 kHz)
  int64_t ticks() const { return ticks_.load(); }
  int64_t sent() const { return sent_.load(); } // frames accepted after the handshake

private:
  void run(std::chrono::microseconds period);

  std::shared_ptr<ClientSession> session_;
  std::vector<int16_t> source_;
  std::atomic<bool> stop_{false};
  std::atomic<int64_t> ticks_{0};
  std::atomic<int64_t> sent_{0};
  mutable std::mutex mutex_;
  std::vector<int16_t> output_;
  std::thread thread_;
};

// A temporary directory removed by the destructor.
struct TempDir {
  TempDir();
  ~TempDir();
  std::filesystem::path path;
};

} // namespace pv::personaplex::test
