#pragma once
// Wires a room to a conversation backend: the room's clock drives both directions, the agent
// forwards frames, decides speaking start/stop from what is actually played, applies the room's
// speaking permission, records turns and their latency in the timeline, and routes turns to a
// fallback backend when the primary fails (the one place where retry/fallback is decided).
//
// Threading: on_audio_tick/on_room_event run on the room clock thread; BackendObserver callbacks
// arrive from backend threads and only touch state guarded by `mutex_` (never held across I/O).

#include "agent/speaking_detector.hpp"
#include "conversation/backend.hpp"
#include "room/room.hpp"
#include "room/timeline.hpp"
#include "util/thread_owner.hpp"

#include <atomic>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include <tl/expected.hpp>

namespace pv::agent {

struct AgentParams {
  SpeakingDetectorParams speaking;
  bool log_transcript_text = false; // USER_TRANSCRIPT/AGENT_REPLY carry the text itself
};

class Agent final : public room::RoomHandler, public conversation::BackendObserver {
public:
  Agent(const AgentParams& params, room::Room& room, room::Timeline& timeline,
        conversation::ConversationBackend& primary,
        conversation::ConversationBackend* fallback = nullptr);

  // Starts the backend(s), runs the room until `stop` (or the scripted room ends), stops them.
  tl::expected<void, std::string> run(const std::atomic<bool>& stop);

  // room::RoomHandler (room clock thread)
  void on_audio_tick(const audio::Frame& inbound, audio::Frame& outbound) override;
  void on_room_event(const room::RoomEvent& event) override;
  bool can_finish() override;

  // conversation::BackendObserver (any thread)
  void on_user_speech_start(int64_t media_ms) override;
  void on_user_turn_end(uint64_t turn_id, int64_t speech_end_media_ms) override;
  void on_barge_in(uint64_t turn_id, int64_t media_ms, double stop_latency_ms) override;
  void on_turn_complete(conversation::TurnReport report) override;
  void on_error(const conversation::BackendError& error) override;
  void on_backend_health(bool healthy) override;

  int64_t error_count() const { return errors_.load(); }

private:
  // A turn no longer waits for first audio; the next queued one does. Caller holds mutex_.
  void forget_awaiting_locked(uint64_t turn_id);
  // The oldest pending turn still without first audio becomes the one awaited (mutex_ held).
  void await_next_turn_locked();
  struct PendingTurn {
    int64_t speech_end_ms = -1;
    int64_t first_audio_ms = -1;
  };

  AgentParams params_;
  room::Room& room_;
  room::Timeline& timeline_;
  conversation::ConversationBackend& primary_;
  conversation::ConversationBackend* fallback_;

  util::ThreadOwner clock_thread_;
  SpeakingDetector speaking_;
  audio::Frame fallback_out_{audio::kRoomRateHz};
  bool speaking_allowed_ = true;

  std::mutex mutex_;
  std::map<uint64_t, PendingTurn> pending_; // guarded by mutex_
  uint64_t awaiting_first_audio_ = 0;       // guarded by mutex_ (0 = none)
  std::vector<uint64_t> awaiting_order_;    // guarded by mutex_: pending turns, oldest first
  std::atomic<bool> awaiting_{false};
  std::atomic<bool> fallback_active_{false};
  std::atomic<int64_t> errors_{0};
};

} // namespace pv::agent
