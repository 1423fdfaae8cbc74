#pragma once
// PERSONAPLEX_MODE=turn (compatible with the original): one PersonaPlex session per user
// utterance.
//
//  * A VadSegmenter on the room audio cuts user turns (on_user_speech_start, on_user_turn_end).
//  * For each utterance, in order: open a session (fresh prompt: persona + what the agent said so
//    far), wait for the handshake, then stream the utterance (16 kHz from the VAD path -> 24 kHz)
//    followed by silence, one 20 ms frame per room tick (real time: the server is input-clocked),
//    for as long as the model keeps talking; once it has spoken and then been quiet for
//    turn_quiet_ms the session is closed cleanly and on_turn_complete reports the model's text
//    and the latency parts (vad_wait, turn_queue, session_setup, replay = streaming the utterance
//    again, server_first_audio).
//  * turn_timeout_ms bounds a whole turn (from its session's start).
//  * Utterances that end while a turn runs are queued in order (max_queued_turns; beyond that the
//    utterance is handed back through on_error as unanswered: nothing is lost silently).
//  * A failed turn (any typed session error, or turn_timeout) is reported once through on_error;
//    if the model had not answered, `unanswered` carries the utterance (16 kHz) so the agent can
//    give it to the fallback (PERSONAPLEX_FALLBACK_TO_LLM). Health is not signalled: each turn
//    has its own session.
//
// Threading: like DuplexBackend: control on the room clock thread, session I/O on an io_context
// (options.io or a backend-owned IoThread); stop() after the clock has stopped.

#include "audio/frame.hpp"
#include "audio/resampler.hpp"
#include "conversation/backend.hpp"
#include "personaplex/client_session.hpp"
#include "personaplex/options.hpp"
#include "personaplex/room_listener.hpp"
#include "personaplex/session_host.hpp"
#include "util/thread_owner.hpp"

#include <array>
#include <atomic>
#include <chrono>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

namespace pv::personaplex {

struct TurnStats {
  int turns_started = 0;
  int turns_completed = 0;
  int turns_failed = 0;
  int max_queued = 0; // the longest the queue of waiting utterances got
  int sessions_opened = 0;
};

class TurnBackend final : public conversation::ConversationBackend {
public:
  explicit TurnBackend(BackendOptions options);
  ~TurnBackend() override;

  std::string_view name() const override { return "personaplex"; }
  tl::expected<void, conversation::BackendError>
  start(const conversation::BackendContext& context) override;
  void stop() override;
  void on_room_frame(const audio::Frame& inbound_48k) override;
  void fill_agent_frame(audio::Frame& outbound_48k) override;
  void set_speaking_allowed(bool allowed) override { allowed_.store(allowed); }
  bool idle() const override { return idle_.load(); }

  TurnStats stats() const; // any thread

private:
  using Clock = std::chrono::steady_clock;

  struct Waiting {
    std::shared_ptr<conversation::UserUtterance> utterance;
    int64_t decided_ms = 0; // when the VAD ended the turn
  };

  struct Turn {
    Waiting waiting;
    std::shared_ptr<ClientSession> session;
    Clock::time_point started;
    int64_t started_ms = 0;
    std::size_t fed_samples = 0; // utterance samples (16 kHz) streamed so far
    int64_t handshake_ms = -1;   // media time the handshake was seen
    int64_t first_audible_arrival_ms = -1;
    int64_t first_played_ms = -1;
    std::size_t text_index = 0;
    std::string text;
  };

  int64_t now_ms() const { return host_.now_ms(); }
  void handle_vad_event(const audio::SegmenterEvent& event, int64_t now);
  void start_turn(int64_t now);
  void drive_turn(int64_t now);
  void feed_frame();
  void finish_turn(int64_t now);
  void fail_turn(conversation::BackendError error);
  void publish_stats();

  BackendOptions options_;
  conversation::BackendContext context_;
  SessionHost host_{options_};

  // --- room clock thread ---
  util::ThreadOwner clock_owner_;
  std::optional<RoomTurnDetector> detector_;
  std::optional<audio::StreamResampler> upsampler_; // 16 kHz -> 24 kHz (reset per turn)
  std::vector<int16_t> fifo_24k_;
  std::array<int16_t, audio::kSegmenterFrameSamples> silence_16k_{};
  std::deque<Waiting> queue_;
  std::optional<Turn> current_;
  ReplyTracker replies_;
  std::vector<TextPiece> text_scratch_;
  uint64_t next_turn_id_ = 0;
  bool stopping_ = false;

  std::atomic<bool> allowed_{true};
  std::atomic<bool> idle_{true};

  mutable std::mutex stats_mutex_;
  TurnStats stats_;
  TurnStats pending_stats_;
};

} // namespace pv::personaplex
