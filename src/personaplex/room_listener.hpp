#pragma once
// The room side of both PersonaPlex backends:
//  * RoomTurnDetector: room audio (48 kHz, 20 ms) -> 16 kHz -> VadSegmenter: user speech start
//    and end of turn (with the utterance and when the speech itself ended).
//  * ReplyTracker: follows what the model says on the played output (audible or not, 20 ms at a
//    time) and its text pieces, cutting them into replies: a reply ends when the output has been
//    quiet for `quiet_ms`. Feeds the "what the agent said so far" context of new sessions.
//
// Owner: the room clock thread (util::ThreadOwner in the segmenter, debug builds). No allocation
// per frame after create(), except when a text piece or a finished reply is stored.

#include "audio/frame.hpp"
#include "audio/resampler.hpp"
#include "audio/vad_segmenter.hpp"

#include <cstdint>
#include <deque>
#include <string>
#include <vector>

#include <tl/expected.hpp>

namespace pv::personaplex {

class RoomTurnDetector {
public:
  static tl::expected<RoomTurnDetector, std::string>
  create(const audio::VadSegmenterParams& params);

  // One room frame that started at `media_ms`. Calls on_event(const audio::SegmenterEvent&) for
  // every event other than Kind::none (the event's segment span is valid during the call).
  template <class OnEvent>
  void process(const audio::Frame& room_48k, int64_t media_ms, OnEvent&& on_event) {
    if (next_frame_ms_ < 0) {
      next_frame_ms_ = media_ms;
    }
    downsampler_.push(room_48k);
    while (downsampler_.pop(frame_16k_)) {
      auto event = segmenter_.process(frame_16k_.samples(), next_frame_ms_);
      next_frame_ms_ += audio::kFrameMs;
      if (event && event->kind != audio::SegmenterEvent::Kind::none) {
        on_event(*event);
      }
    }
  }

  bool in_segment() const { return segmenter_.in_segment(); }

private:
  RoomTurnDetector(audio::FrameResampler downsampler, audio::VadSegmenter segmenter);
  audio::FrameResampler downsampler_;
  audio::VadSegmenter segmenter_;
  audio::Frame frame_16k_{audio::kSpeechRateHz};
  int64_t next_frame_ms_ = -1;
};

class ReplyTracker {
public:
  explicit ReplyTracker(int quiet_ms = 1200, std::size_t max_replies = 64)
      : quiet_ms_(quiet_ms), max_replies_(max_replies) {}

  // One played frame's audibility at `media_ms`.
  void on_output(bool audible, int64_t media_ms);
  // A text piece the model produced (the playing session's).
  void on_text(const std::string& piece);

  bool speaking() const { return speaking_; }
  // Media time of the last audible output frame's end (-1 = never).
  int64_t last_audible_ms() const { return last_audible_ms_; }
  // Finished replies, oldest first (bounded), plus the reply in progress if any.
  std::vector<std::string> said() const;

private:
  void finish_reply();

  int quiet_ms_;
  std::size_t max_replies_;
  bool speaking_ = false;
  int64_t last_audible_ms_ = -1;
  std::string current_;
  std::deque<std::string> replies_;
};

} // namespace pv::personaplex
