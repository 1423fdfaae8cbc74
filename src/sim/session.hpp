#pragma once
// Internal to src/sim: one simulated PersonaPlex session (one accepted /api/chat connection) and
// the server state the sessions share (the session "lock", reports). See sim_server.hpp for the
// behaviour; this file is the mechanics.
//
// Owner: the simulator's io thread (ServerCore::owner; everything here except the report map,
// which any thread may read under report_mutex).

#include "audio/ogg_opus.hpp"
#include "net/ws_server.hpp"
#include "sim/model.hpp"
#include "sim/prompt.hpp"
#include "sim/sim_server.hpp"
#include "util/thread_owner.hpp"

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

namespace pv::sim {

class SimSession;

struct ServerCore {
  ServerCore(boost::asio::io_context& context, const SimParams& sim_params,
             std::shared_ptr<const SpeechBank> speech)
      : io(context), params(sim_params), bank(std::move(speech)) {}

  boost::asio::io_context& io;
  const SimParams params;
  const std::shared_ptr<const SpeechBank> bank;
  util::ThreadOwner owner; // the io thread

  // --- io thread only ---
  int upgrades = 0;                         // /api/chat upgrade requests so far (the session index)
  std::map<std::string, int> pending_index; // remote address -> index, between upgrade and open
  std::map<uint64_t, std::shared_ptr<SimSession>> sessions; // by connection id
  int active = 0;                                           // sessions holding a slot
  std::deque<std::weak_ptr<SimSession>> waiting;            // FIFO of sessions waiting for a slot
  SharedPromptWrite shared_prompt;                          // last-connected-prompts-win emulation
  std::string loaded_voice; // the voice the "model" last loaded (Addendum 3)
  bool stopping = false;

  bool fault_applies(int index) const {
    return params.faults.session == 0 || params.faults.session == index;
  }

  // A validated session asks for a slot: it starts now or waits (FIFO).
  void request_slot(const std::shared_ptr<SimSession>& session);
  // A session that held a slot is done with it: the next waiting one starts.
  void release_slot();
  void forget(uint64_t connection_id) { sessions.erase(connection_id); }
  // Cancels every session's timers; returns the connections that were still open (their
  // WebSocket sessions release them once their cancellation has run).
  std::vector<std::weak_ptr<net::WsServerConnection>> shutdown();

  // --- any thread ---
  template <class Change>
  void update_report(int index, Change&& change) {
    {
      std::lock_guard lock(report_mutex_);
      SimSessionReport& report = report_locked(index);
      change(report);
    }
    report_cv_.notify_all();
  }
  std::vector<SimSessionReport> reports() const;
  bool wait_reports(const std::function<bool(const std::vector<SimSessionReport>&)>& pred,
                    std::chrono::milliseconds timeout) const;

private:
  SimSessionReport& report_locked(int index); // caller holds report_mutex_
  mutable std::mutex report_mutex_;           // guards reports_; never held across I/O
  mutable std::condition_variable report_cv_;
  std::map<int, SimSessionReport> reports_;
};

class SimSession : public std::enable_shared_from_this<SimSession> {
public:
  SimSession(std::shared_ptr<ServerCore> core, net::WsConnectionPtr connection, int index);

  int index() const { return index_; }
  const net::WsConnectionPtr& connection() const { return connection_; }
  bool ended() const { return state_ == SimSessionState::ended; }

  void open();             // the 101 has been sent
  bool begin();            // granted a slot; false if already gone
  void queued(int behind); // waiting for a slot
  void on_message(const net::WsMessageView& message);
  void on_closed(const net::WsError& reason); // the connection is gone (terminal)
  void shutdown();                            // the server stops

private:
  struct EarlyMessage {
    bool binary = true;
    std::vector<uint8_t> bytes;
  };

  void set_state(SimSessionState state);
  void arm_timer(int ms, void (SimSession::*then)());
  void cancel_timer();
  void probe();
  void handshake();
  void handle_message(bool binary, std::span<const uint8_t> data);
  void pump();
  void on_step_timer();
  void do_step();
  void after_frames(int64_t frames);
  void drop_when_flushed();
  void drop_now();
  void close_for_input_error();
  bool send(uint8_t kind, std::span<const uint8_t> payload);
  std::size_t available() const { return pcm_.size() - pcm_head_; }
  void note_fault(const std::string& what);

  std::shared_ptr<ServerCore> core_;
  net::WsConnectionPtr connection_;
  const int index_;
  const bool faulted_;
  SimSessionState state_ = SimSessionState::queued;
  boost::asio::steady_timer timer_;
  bool timer_armed_ = false;
  uint64_t timer_generation_ = 0;
  bool holds_slot_ = false;
  std::mt19937_64 rng_;

  ChatRequest request_;
  PromptPlan plan_;
  int probes_done_ = 0;
  int close_fault_probe_ = -1;
  int swallowed_ = 0;
  std::chrono::steady_clock::time_point prompt_started_;
  std::deque<EarlyMessage> early_;
  std::size_t early_bytes_ = 0;
  bool reading_paused_ = false;

  std::optional<audio::OggOpusReader> reader_;
  std::optional<audio::OggOpusWriter> writer_;
  std::optional<SimModel> model_;
  std::vector<int16_t> pcm_; // decoded input not yet stepped (from pcm_head_)
  std::size_t pcm_head_ = 0;
  bool input_failed_ = false;
  int step_ms_ = 0;
  int64_t steps_ = 0;
  std::vector<uint8_t> page_;
  std::vector<uint8_t> message_;
  int drop_wait_polls_ = 0;
  int64_t input_messages_ = 0;
  int64_t input_bytes_ = 0;
};

} // namespace pv::sim
