#pragma once
// PERSONAPLEX_MODE=duplex: one persistent full-duplex PersonaPlex session per agent.
//
// Audio: room audio (48 kHz) -> 24 kHz -> the session, continuously and in real time, silence
// included (the server is input-clocked). The model's audio -> 48 kHz -> the session's playout
// buffer -> the room. set_speaking_allowed(false) silences the output but keeps pulling (the
// session and its timing stay intact). Speaking start/stop is the agent's business (it watches
// the played audio); nothing is signalled per packet.
//
// Turn metrics: a VadSegmenter on the room audio finds the end of each user turn
// (on_user_turn_end(id, speech_end_ms)); on_turn_complete follows when the model has answered and
// gone quiet for turn_quiet_ms (or the next user turn starts), with agent_text = the model's text
// pieces since the user stopped, and latency parts vad_wait (VAD decision - speech end) and
// server_first_audio (first audible server audio after the VAD decision). user_text is empty:
// PersonaPlex gives no user transcript.
//
// Failures: the session's typed error -> on_error (with the open turn's utterance as
// `unanswered` if the model had not answered it) + on_backend_health(false); reconnect with
// exponential backoff + full jitter (reconnect_min/max_ms; a Retry-After is honoured up to the
// maximum); the room hears silence meanwhile; on_backend_health(true) when a new session has its
// handshake.
//
// Context window (~3000 steps = 240 s): before session_max_s runs out a replacement session is
// opened in the background, preferably at a pause, with a fresh prompt (persona + what the agent
// said so far, within the request-line budget). From its handshake on it gets the same room audio
// (so it is in sync) and its output is pulled but not played; playout switches to it at a pause:
// the old session's output quiet for swap_quiet_ms while the new one is quiet too, the user not
// speaking, and no user turn waiting for the old session's answer. No hole, no click. Failing
// such a silence until the hard limit (session_max_s + swap_force_after_s), the switch is a 20 ms
// crossfade. The old session is then closed cleanly.
// Without a replacement ready by session_max_s the switch has a gap (PERSONAPLEX_SWAP_GAP, health
// unchanged), at the first pause past session_max_s or at the latest at the hard limit: the old
// session is closed and either the replacement (a one-session server queues it until then; use
// a pool for seamless swaps) or, if there is none (it failed and its retry is still in backoff),
// a fresh session takes over after its prompt phase. No session outlives the hard limit.
//
// Threading: all control runs on the room clock thread, inside on_room_frame/fill_agent_frame
// (polling the sessions' atomic state; opening a session does no I/O); sessions do their I/O on
// an io_context (options.io, or a backend-owned IoThread). Observer callbacks come from the room
// clock thread. stop() runs after the clock has stopped (any thread).

#include "audio/frame.hpp"
#include "audio/resampler.hpp"
#include "conversation/backend.hpp"
#include "net/backoff.hpp"
#include "personaplex/client_session.hpp"
#include "personaplex/options.hpp"
#include "personaplex/room_listener.hpp"
#include "personaplex/session_host.hpp"
#include "util/thread_owner.hpp"

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace pv::personaplex {

struct DuplexStats {
  int sessions_opened = 0;
  int swaps = 0;        // seamless (or crossfaded) context-window switches
  int gapped_swaps = 0; // switches with a gap: the old session closed before a ready successor
  int crossfades = 0;
  int failures = 0;         // active session failures
  int reconnects = 0;       // sessions opened after a failure
  bool healthy = true;      // as last reported to the observer
  std::string active_label; // "" when none
  int64_t underruns = 0;    // playout underruns of retired + current sessions
  int64_t dropped_samples = 0;
  int64_t first_swap_media_ms = -1;
  int64_t last_swap_media_ms = -1;
};

class DuplexBackend final : public conversation::ConversationBackend {
public:
  explicit DuplexBackend(BackendOptions options);
  ~DuplexBackend() override;

  std::string_view name() const override { return "personaplex"; }
  tl::expected<void, conversation::BackendError>
  start(const conversation::BackendContext& context) override;
  void stop() override;
  void on_room_frame(const audio::Frame& inbound_48k) override;
  void fill_agent_frame(audio::Frame& outbound_48k) override;
  void set_speaking_allowed(bool allowed) override { allowed_.store(allowed); }
  bool idle() const override { return idle_.load(); }

  DuplexStats stats() const; // any thread

private:
  using Clock = std::chrono::steady_clock;

  struct OpenTurn {
    uint64_t id = 0;
    int64_t speech_end_ms = 0;
    int64_t decided_ms = 0;
    int64_t first_audible_arrival_ms = -1;
    int64_t first_played_ms = -1;
    std::string text;
  };

  int64_t now_ms() const { return host_.now_ms(); }
  bool open_active(bool reconnect);
  void open_standby();
  void poll_sessions();
  void on_active_failed();
  void schedule_reconnect(const std::string& retry_after);
  bool at_pause() const;
  void switch_to_standby(const char* how);
  void switch_with_gap(const char* when);
  void handle_vad_event(const audio::SegmenterEvent& event, int64_t now);
  void complete_turn(bool interrupted);
  void take_text(int64_t now);
  void track_turn(bool audible, int64_t now);
  void account(const ClientSession& session);
  void publish_stats();
  int64_t active_age_ms() const { return active_sent_frames_ * audio::kFrameMs; }
  net::Backoff& backoff();

  BackendOptions options_;
  conversation::BackendContext context_;
  SessionHost host_{options_};

  // --- room clock thread ---
  util::ThreadOwner clock_owner_;
  std::optional<net::Backoff> backoff_; // built on the clock thread (it binds to its creator)
  std::shared_ptr<ClientSession> active_;
  std::shared_ptr<ClientSession> standby_;
  bool active_ready_ = false;
  int64_t active_sent_frames_ = 0; // 20 ms frames the active session's model has been sent
  int64_t standby_sent_frames_ = 0;
  int64_t last_handshake_ms_ = 2000; // connect -> handshake of the latest session
  std::optional<Clock::time_point> reconnect_at_;
  std::optional<Clock::time_point> standby_retry_at_;
  bool healthy_reported_ = true;
  bool stopping_ = false;

  std::optional<audio::StreamResampler> downsampler_24k_;
  std::vector<int16_t> fifo_24k_;
  std::size_t fifo_head_ = 0;
  std::optional<RoomTurnDetector> detector_;
  audio::Frame standby_frame_{audio::kRoomRateHz};
  int active_quiet_ms_ = 0;
  bool last_output_audible_ = false; // the model was audible in the last played frame

  ReplyTracker replies_;
  std::size_t text_index_ = 0;
  std::vector<TextPiece> text_scratch_;
  std::optional<OpenTurn> open_turn_;
  uint64_t next_turn_id_ = 0;
  std::shared_ptr<conversation::UserUtterance> last_utterance_;

  std::atomic<bool> allowed_{true};
  std::atomic<bool> idle_{true};

  mutable std::mutex stats_mutex_; // guards stats_ (short; any thread reads)
  DuplexStats stats_;
  DuplexStats pending_stats_; // clock thread's working copy
  int64_t retired_underruns_ = 0;
  int64_t retired_dropped_ = 0;
};

} // namespace pv::personaplex
