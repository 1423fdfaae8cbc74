#pragma once
// A backend with no model: it listens for an utterance (level-based detection) and, after a short
// pause, plays it back. It exercises the whole frame path (room clock, agent, playout buffer,
// speaking detection, timeline) on any machine, with nothing to configure.
// Runs entirely on the room clock thread: no threads, no I/O, buffers allocated once in start().

#include "audio/playout_buffer.hpp"
#include "conversation/backend.hpp"
#include "util/thread_owner.hpp"

#include <atomic>
#include <vector>

namespace pv::agent {

struct LoopbackParams {
  double speech_threshold_dbfs = -45.0;
  int silence_ms = 500;    // end of utterance
  int min_speech_ms = 200; // shorter bursts are ignored
  int max_utterance_ms = 15000;
  int reply_pause_ms = 300; // pause before the echo starts
};

class LoopbackBackend final : public conversation::ConversationBackend {
public:
  explicit LoopbackBackend(const LoopbackParams& params = {});

  std::string_view name() const override { return "loopback"; }
  tl::expected<void, conversation::BackendError>
  start(const conversation::BackendContext& context) override;
  void stop() override {}
  void on_room_frame(const audio::Frame& inbound_48k) override;
  void fill_agent_frame(audio::Frame& outbound_48k) override;
  void set_speaking_allowed(bool allowed) override { allowed_ = allowed; }
  bool idle() const override;

private:
  enum class State { listening, in_speech, pausing, replying };

  LoopbackParams params_;
  conversation::BackendContext context_;
  util::ThreadOwner clock_thread_;
  audio::PlayoutBuffer playout_;
  std::vector<int16_t> utterance_;
  State state_ = State::listening;
  std::atomic<bool> idle_{true};
  bool allowed_ = true;
  int speech_ms_ = 0;
  int silence_ms_ = 0;
  int pause_ms_ = 0;
  uint64_t turn_id_ = 0;
  int64_t speech_end_ms_ = 0;
  int64_t turn_end_ms_ = 0;
  int64_t reply_start_ms_ = 0;
};

} // namespace pv::agent
