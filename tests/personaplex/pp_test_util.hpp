#pragma once
// Shared tools for the PersonaPlex client tests: speech from flite, the simulator with fast
// settings, session parameters for tests, and a SessionDriver that plays the room clock for a
// single ClientSession (one 20 ms frame sent and one pulled per period).

#include "conversation/backend.hpp"
#include "personaplex/client_session.hpp"
#include "personaplex/options.hpp"
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

// Backend options for a simulator (ws or wss endpoint of `server`), test-sized timeouts.
BackendOptions backend_options(const sim::SimServer& server,
                               const std::string& text_prompt = "You are a test.");

// Records everything a backend reports (thread-safe), with the steady time of each report.
class RecordingObserver : public conversation::BackendObserver {
public:
  void on_user_speech_start(int64_t media_ms) override;
  void on_user_turn_end(uint64_t turn_id, int64_t speech_end_media_ms) override;
  void on_barge_in(uint64_t turn_id, int64_t media_ms, double stop_latency_ms) override;
  void on_turn_complete(conversation::TurnReport report) override;
  void on_error(const conversation::BackendError& error) override;
  void on_backend_health(bool healthy) override;

  std::vector<std::string> events() const; // "turn_end:1", "turn:1", "error:no_audio", "health:0"
  std::vector<conversation::TurnReport> turns() const;
  std::vector<conversation::BackendError> errors() const;
  std::vector<bool> health() const;
  std::vector<std::chrono::steady_clock::time_point> error_times() const;

private:
  void add(std::string event);
  mutable std::mutex mutex_;
  std::vector<std::string> events_;
  std::vector<conversation::TurnReport> turns_;
  std::vector<conversation::BackendError> errors_;
  std::vector<std::chrono::steady_clock::time_point> error_times_;
  std::vector<bool> health_;
};

// Plays the room for a backend without the agent: ticks every `period` (media time advances 20 ms
// per tick), hands it `input_48k` (then silence) and records what it plays.
class RoomDriver {
public:
  explicit RoomDriver(std::vector<int16_t> input_48k = {});
  ~RoomDriver();
  RoomDriver(const RoomDriver&) = delete;
  RoomDriver& operator=(const RoomDriver&) = delete;

  // The context to start the backend with (the driver's media clock).
  conversation::BackendContext context(conversation::BackendObserver& observer);
  void start(conversation::ConversationBackend& backend, std::chrono::microseconds period = 20ms);
  void stop();
  int64_t media_ms() const { return ticks_.load() * 20; }
  std::vector<int16_t> output() const;

private:
  std::vector<int16_t> input_;
  std::atomic<bool> stop_{false};
  std::atomic<int64_t> ticks_{0};
  mutable std::mutex mutex_;
  std::vector<int16_t> output_;
  std::thread thread_;
};

// RMS in dBFS of `samples` (-inf for silence).
double level_dbfs(std::span<const int16_t> samples);

// A temporary directory removed by the destructor.
struct TempDir {
  TempDir();
  ~TempDir();
  std::filesystem::path path;
};

} // namespace pv::personaplex::test
