#pragma once
// Cuts the room's speech (16 kHz, 20 ms frames) into user turns.
//
// A frame is speech when the WebRTC VAD says so AND its RMS reaches the energy gate
// (VAD_ENERGY_THRESHOLD): the VAD rejects loud non-speech, the gate rejects quiet background
// the VAD would accept. On top of the per-frame decision:
//   * start confirmation: `start_confirm_ms` of consecutive speech frames start a segment, so a
//     20 ms click never does;
//   * pre-roll: the segment begins `preroll_ms` before the first confirmed speech frame, so the
//     onset (often quiet, below the gate) is not clipped;
//   * end of turn after `silence_ms` without a speech frame; the segment keeps `trailing_keep_ms`
//     of audio after the last speech frame;
//   * minimum speech: a segment with less than `min_speech_ms` of speech frames (a cough, a door)
//     ends as `discarded`, not as a turn;
//   * maximum length: a segment reaching `max_segment_ms` is cut and emitted (reason max_length);
//     if the user keeps talking a new segment starts within `start_confirm_ms`, no audio is lost.
//
// Owner: one thread (the backend's audio worker, or the room clock thread: process() is
// CPU-only, ~tens of µs per frame, allocation-free after create(); see bench_cascade).
// Shared by the cascade (turns) and PersonaPlex (turn mode, duplex turn metrics).
// Times are the caller's media clock in ms (the start time of each frame).

#include "audio/webrtc_vad.hpp"
#include "util/thread_owner.hpp"

#include <cstdint>
#include <span>
#include <vector>

#include <tl/expected.hpp>

namespace pv::audio {

inline constexpr int kSegmenterRateHz = 16000;
inline constexpr int kSegmenterFrameMs = 20;
inline constexpr std::size_t kSegmenterFrameSamples = 320;

struct VadSegmenterParams {
  int aggressiveness = 2;     // WebRTC VAD mode 0..3
  int energy_threshold = 300; // RMS (s16 units) a speech frame must reach; 0 disables the gate
  int silence_ms = 500;       // end of turn after this much non-speech
  int preroll_ms = 200;       // audio kept from before the first speech frame
  int start_confirm_ms = 60;  // consecutive speech needed to start a segment
  int min_speech_ms = 200;    // less speech than this in a segment: discarded, not a turn
  int max_segment_ms = 15000; // a segment is cut (and emitted) at this length, pre-roll included
  int trailing_keep_ms = 200; // audio kept after the last speech frame in the emitted segment
};

enum class SegmentEndReason { silence, max_length };

struct SegmenterEvent {
  enum class Kind {
    none,         // nothing new (look at frame_in_segment)
    speech_start, // a segment started; `segment` = pre-roll + confirmed speech, this frame included
    end_of_turn,  // a turn ended; `segment` = the whole turn (trimmed to trailing_keep_ms)
    discarded,    // a segment ended with too little speech; drop any work started for it
  };
  Kind kind = Kind::none;
  bool frame_is_speech = false;  // the combined decision for this frame (feed a BargeInDetector)
  bool frame_in_segment = false; // this frame belongs to the current segment (stream it to ASR)
  int rms = 0;                   // RMS of this frame
  int64_t segment_start_ms = 0;  // start of the segment's audio (pre-roll included)
  int64_t speech_start_ms = 0;   // start of the first speech frame
  int64_t speech_end_ms = 0;     // end of the last speech frame: when the user stopped talking
  SegmentEndReason reason = SegmentEndReason::silence;
  // Points into the segmenter's buffer: valid until the next process() or reset().
  std::span<const int16_t> segment;
};

class VadSegmenter {
public:
  static tl::expected<VadSegmenter, VadError> create(const VadSegmenterParams& params);

  // One 20 ms frame (320 samples at 16 kHz) starting at `frame_start_ms`. Errors only for a frame
  // of the wrong length (the frame is then ignored; the state is unchanged).
  tl::expected<SegmenterEvent, VadError> process(std::span<const int16_t> frame,
                                                 int64_t frame_start_ms);

  // Drops any segment in progress and the VAD's noise model.
  void reset();

  bool in_segment() const { return in_segment_; }
  const VadSegmenterParams& params() const { return params_; }

private:
  VadSegmenter(const VadSegmenterParams& params, WebRtcVad vad);
  void push_ring(std::span<const int16_t> frame, int64_t frame_start_ms);
  void start_segment(SegmenterEvent& event);
  void finish_segment(SegmentEndReason reason, SegmenterEvent& event);

  VadSegmenterParams params_;
  WebRtcVad vad_;

  int confirm_frames_;
  int silence_frames_;
  int min_speech_frames_;
  std::size_t max_segment_samples_;
  std::size_t trailing_keep_samples_;

  // Pre-roll ring: the last (preroll + confirm) frames while no segment is open.
  std::vector<int16_t> ring_;
  std::vector<int64_t> ring_times_;
  std::size_t ring_slots_;
  std::size_t ring_head_ = 0; // next slot to write
  std::size_t ring_count_ = 0;
  int candidate_run_ = 0;

  bool in_segment_ = false;
  bool clear_segment_on_next_ = false;
  std::vector<int16_t> segment_; // capacity reserved once
  int64_t segment_start_ms_ = 0;
  int64_t speech_start_ms_ = 0;
  int64_t speech_end_ms_ = 0;
  std::size_t speech_end_samples_ = 0; // segment_ length at the end of the last speech frame
  int voiced_frames_ = 0;
  int trailing_silence_frames_ = 0;

  util::MovableThreadOwner owner_;
};

// Decides when user speech over the agent is real enough to stop it: speech sustained for
// `min_speech_ms`, where gaps up to `max_gap_ms` (between words) do not reset the count.
// Owner: the same thread as the segmenter that feeds it.
struct BargeInParams {
  int min_speech_ms = 300; // BARGE_IN_MIN_MS
  int max_gap_ms = 60;
};

class BargeInDetector {
public:
  explicit BargeInDetector(const BargeInParams& params = {}) : params_(params) {}

  // Feeds one frame's decision; returns true exactly once, on the frame that confirms barge-in,
  // until reset().
  bool on_frame(bool is_speech, int frame_ms = kSegmenterFrameMs);
  void reset();
  bool fired() const { return fired_; }
  int speech_ms() const { return speech_ms_; }

private:
  BargeInParams params_;
  int speech_ms_ = 0;
  int gap_ms_ = 0;
  bool fired_ = false;
  util::MovableThreadOwner owner_;
};

} // namespace pv::audio
