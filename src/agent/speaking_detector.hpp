#pragma once
// Decides when the agent is "speaking" from what it actually plays, not from what a backend
// produces: speaking starts with the first audible frame and stops after a hang-over of
// inaudible frames (so short pauses between words do not flap start/stop_speaking in the room).
// Owner: the room clock thread.

#include "audio/frame.hpp"

namespace pv::agent {

struct SpeakingDetectorParams {
  double threshold_dbfs = -50.0; // a frame above this RMS level is audible
  int hangover_ms = 300;         // silence needed before speaking stops
};

class SpeakingDetector {
public:
  enum class Change { none, started, stopped };

  explicit SpeakingDetector(const SpeakingDetectorParams& params = {}) : params_(params) {}

  // One played frame; returns whether the speaking state changed.
  Change update(const audio::Frame& played);
  bool speaking() const { return speaking_; }
  bool last_frame_audible() const { return last_audible_; }

private:
  SpeakingDetectorParams params_;
  bool speaking_ = false;
  bool last_audible_ = false;
  int quiet_us_ = 0;
};

} // namespace pv::agent
