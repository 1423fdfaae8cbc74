#pragma once
// A file-backed room for running the agent without Podium (as the original did when no Podium
// credentials are set), and the test harness of the whole pipeline.
//
// * What the room's people say: a WAV (any rate; resampled to 48 kHz offline), preceded by a
//   lead-in and followed by a tail of silence. A sidecar `<input>.json` may label the user's speech
//   spans ({"speech": [{"start_ms", "end_ms", "text"}]}, relative to the WAV start) and scripted
//   room events ({"room_events": [{"t_ms", "kind", "participant", "detail", "value"}]}); without
//   labels, speech spans are estimated from the signal level.
// * Pacing: real time (speed 1), N times faster, or unpaced (speed 0, `--fast`).
// * Records everything the agent sends into a 48 kHz WAV, and the user's speech start/end and the
//   agent's speaking start/stop into the Timeline.
// * After the script ends it keeps ticking (silence) until the handler can finish or max_wait_ms.
//
// Threading: run() is the clock thread (the caller's). set_speaking() and media_time_ms() may be
// called from any thread.

#include "audio/frame_clock.hpp"
#include "room/room.hpp"
#include "room/timeline.hpp"

#include <atomic>
#include <memory>
#include <string>
#include <vector>

namespace pv::room {

struct MockRoomParams {
  std::string input_wav;  // "" = the room stays silent
  std::string output_wav; // "" = do not record
  double speed = 1.0;     // 1 = real time, 0 = as fast as possible
  int lead_in_ms = 500;
  int tail_ms = 3000;
  int max_wait_ms = 30000;
  double speech_threshold_dbfs = -45.0; // for unlabelled input
};

struct SpeechSpan {
  int64_t start_ms = 0;
  int64_t end_ms = 0;
  std::string text;
};

class MockRoom final : public Room {
public:
  // Loads and validates the input and checks that the output can be written, so that a bad path
  // fails before the run instead of losing the recording at the end.
  static tl::expected<std::unique_ptr<MockRoom>, RoomError>
  create(const MockRoomParams& params, Timeline& timeline,
         audio::ClockSource& clock = audio::SystemClock::instance());

  std::string_view kind() const override { return "mock"; }
  tl::expected<void, RoomError> run(RoomHandler& handler, const std::atomic<bool>& stop) override;
  void set_speaking(bool speaking) override;
  int64_t media_time_ms() const override;

  // Speech spans of the script, in media time (lead-in included).
  const std::vector<SpeechSpan>& speech_spans() const { return spans_; }
  int64_t script_duration_ms() const;
  // Samples the agent sent (48 kHz), available after run().
  const std::vector<int16_t>& recording() const { return recording_; }

private:
  MockRoom(const MockRoomParams& params, Timeline& timeline, audio::ClockSource& clock);

  MockRoomParams params_;
  Timeline& timeline_;
  audio::ClockSource& clock_;
  std::vector<int16_t> script_; // 48 kHz, lead-in + input + tail
  std::vector<SpeechSpan> spans_;
  std::vector<RoomEvent> scripted_events_;
  std::vector<int16_t> recording_;
  std::atomic<int64_t> tick_{0};
  std::atomic<bool> speaking_{false};
};

// Estimates speech spans of a 48 kHz clip from its level (20 ms frames above threshold, joined
// across gaps shorter than 300 ms).
std::vector<SpeechSpan> estimate_speech_spans(const std::vector<int16_t>& samples_48k,
                                              double threshold_dbfs);

} // namespace pv::room
