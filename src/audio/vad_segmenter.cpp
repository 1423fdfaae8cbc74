#include "audio/vad_segmenter.hpp"

#include <algorithm>
#include <cmath>
#include <string>

namespace pv::audio {

namespace {

int frames_for(int ms) {
  return (ms + kSegmenterFrameMs - 1) / kSegmenterFrameMs;
}

int frame_rms(std::span<const int16_t> frame) {
  int64_t sum = 0;
  for (const int16_t s : frame) {
    sum += static_cast<int64_t>(s) * s;
  }
  return static_cast<int>(std::lround(std::sqrt(static_cast<double>(sum) / frame.size())));
}

VadError bad_params(std::string message) {
  return VadError{VadErrorKind::invalid_params, std::move(message)};
}

} // namespace

tl::expected<VadSegmenter, VadError> VadSegmenter::create(const VadSegmenterParams& params) {
  if (params.energy_threshold < 0 || params.energy_threshold > 32767) {
    return tl::unexpected(bad_params("energy threshold must be 0..32767"));
  }
  if (params.silence_ms < kSegmenterFrameMs || params.start_confirm_ms < kSegmenterFrameMs) {
    return tl::unexpected(bad_params("silence_ms and start_confirm_ms must be at least 20 ms"));
  }
  if (params.preroll_ms < 0 || params.min_speech_ms < 0 || params.trailing_keep_ms < 0) {
    return tl::unexpected(bad_params("preroll_ms, min_speech_ms, trailing_keep_ms must be >= 0"));
  }
  if (params.max_segment_ms < params.preroll_ms + params.start_confirm_ms + 2 * kSegmenterFrameMs) {
    return tl::unexpected(bad_params("max_segment_ms (" + std::to_string(params.max_segment_ms) +
                                     ") must exceed preroll_ms + start_confirm_ms + 40"));
  }
  auto vad = WebRtcVad::create({params.aggressiveness, kSegmenterRateHz});
  if (!vad) {
    return tl::unexpected(vad.error());
  }
  return VadSegmenter(params, std::move(*vad));
}

VadSegmenter::VadSegmenter(const VadSegmenterParams& params, WebRtcVad vad)
    : params_(params), vad_(std::move(vad)), confirm_frames_(frames_for(params.start_confirm_ms)),
      silence_frames_(frames_for(params.silence_ms)),
      min_speech_frames_(frames_for(params.min_speech_ms)),
      max_segment_samples_(static_cast<std::size_t>(params.max_segment_ms) * 16),
      trailing_keep_samples_(static_cast<std::size_t>(params.trailing_keep_ms) * 16),
      ring_slots_(static_cast<std::size_t>(frames_for(params.preroll_ms) + confirm_frames_)) {
  ring_.assign(ring_slots_ * kSegmenterFrameSamples, 0);
  ring_times_.assign(ring_slots_, 0);
  segment_.reserve(max_segment_samples_ + ring_.size() + kSegmenterFrameSamples);
}

void VadSegmenter::push_ring(std::span<const int16_t> frame, int64_t frame_start_ms) {
  std::copy(frame.begin(), frame.end(), ring_.begin() + ring_head_ * kSegmenterFrameSamples);
  ring_times_[ring_head_] = frame_start_ms;
  ring_head_ = (ring_head_ + 1) % ring_slots_;
  ring_count_ = std::min(ring_count_ + 1, ring_slots_);
}

void VadSegmenter::start_segment(SegmenterEvent& event) {
  segment_.clear();
  const std::size_t oldest = (ring_head_ + ring_slots_ - ring_count_) % ring_slots_;
  for (std::size_t i = 0; i < ring_count_; ++i) {
    const std::size_t slot = (oldest + i) % ring_slots_;
    const auto begin = ring_.begin() + static_cast<std::ptrdiff_t>(slot * kSegmenterFrameSamples);
    segment_.insert(segment_.end(), begin, begin + kSegmenterFrameSamples);
  }
  segment_start_ms_ = ring_times_[oldest];
  const std::size_t first_speech_slot =
      (ring_head_ + ring_slots_ - static_cast<std::size_t>(candidate_run_)) % ring_slots_;
  speech_start_ms_ = ring_times_[first_speech_slot];
  const std::size_t newest = (ring_head_ + ring_slots_ - 1) % ring_slots_;
  speech_end_ms_ = ring_times_[newest] + kSegmenterFrameMs;
  speech_end_samples_ = segment_.size();
  voiced_frames_ = candidate_run_;
  trailing_silence_frames_ = 0;
  in_segment_ = true;
  ring_count_ = 0;
  candidate_run_ = 0;

  event.kind = SegmenterEvent::Kind::speech_start;
  event.frame_in_segment = true;
  event.segment_start_ms = segment_start_ms_;
  event.speech_start_ms = speech_start_ms_;
  event.speech_end_ms = speech_end_ms_;
  event.segment = std::span<const int16_t>(segment_.data(), segment_.size());
}

void VadSegmenter::finish_segment(SegmentEndReason reason, SegmenterEvent& event) {
  event.kind = voiced_frames_ >= min_speech_frames_ ? SegmenterEvent::Kind::end_of_turn
                                                    : SegmenterEvent::Kind::discarded;
  event.reason = reason;
  event.segment_start_ms = segment_start_ms_;
  event.speech_start_ms = speech_start_ms_;
  event.speech_end_ms = speech_end_ms_;
  // A cut segment is emitted whole (the user is probably still talking); a finished one drops the
  // silence beyond trailing_keep_ms.
  const std::size_t kept =
      reason == SegmentEndReason::max_length
          ? segment_.size()
          : std::min(segment_.size(), speech_end_samples_ + trailing_keep_samples_);
  event.segment = std::span<const int16_t>(segment_.data(), kept);
  in_segment_ = false;
  clear_segment_on_next_ = true; // the span stays valid until the next call
  voiced_frames_ = 0;
  trailing_silence_frames_ = 0;
}

tl::expected<SegmenterEvent, VadError> VadSegmenter::process(std::span<const int16_t> frame,
                                                             int64_t frame_start_ms) {
  PV_ASSERT_OWNER(owner_);
  if (frame.size() != kSegmenterFrameSamples) {
    return tl::unexpected(VadError{VadErrorKind::invalid_frame,
                                   "segmenter frame has " + std::to_string(frame.size()) +
                                       " samples, expected 320 (20 ms at 16 kHz)"});
  }
  if (clear_segment_on_next_) {
    segment_.clear();
    clear_segment_on_next_ = false;
  }
  SegmenterEvent event;
  event.rms = frame_rms(frame);
  // The VAD runs on every frame, even loud or silent ones, so its noise model keeps adapting.
  auto vad_says = vad_.is_speech(frame);
  if (!vad_says) {
    return tl::unexpected(vad_says.error());
  }
  event.frame_is_speech = *vad_says && event.rms >= params_.energy_threshold;

  if (!in_segment_) {
    push_ring(frame, frame_start_ms);
    candidate_run_ = event.frame_is_speech ? candidate_run_ + 1 : 0;
    if (candidate_run_ >= confirm_frames_) {
      start_segment(event);
    }
    return event;
  }

  segment_.insert(segment_.end(), frame.begin(), frame.end());
  event.frame_in_segment = true;
  if (event.frame_is_speech) {
    ++voiced_frames_;
    trailing_silence_frames_ = 0;
    speech_end_ms_ = frame_start_ms + kSegmenterFrameMs;
    speech_end_samples_ = segment_.size();
  } else {
    ++trailing_silence_frames_;
  }
  if (trailing_silence_frames_ >= silence_frames_) {
    finish_segment(SegmentEndReason::silence, event);
  } else if (segment_.size() >= max_segment_samples_) {
    finish_segment(SegmentEndReason::max_length, event);
  }
  return event;
}

void VadSegmenter::reset() {
  PV_ASSERT_OWNER(owner_);
  vad_.reset();
  ring_head_ = 0;
  ring_count_ = 0;
  candidate_run_ = 0;
  in_segment_ = false;
  clear_segment_on_next_ = false;
  segment_.clear();
  voiced_frames_ = 0;
  trailing_silence_frames_ = 0;
}

bool BargeInDetector::on_frame(bool is_speech, int frame_ms) {
  PV_ASSERT_OWNER(owner_);
  if (is_speech) {
    speech_ms_ += frame_ms;
    gap_ms_ = 0;
  } else {
    gap_ms_ += frame_ms;
    if (gap_ms_ > params_.max_gap_ms) {
      speech_ms_ = 0;
    }
  }
  if (!fired_ && speech_ms_ >= params_.min_speech_ms) {
    fired_ = true;
    return true;
  }
  return false;
}

void BargeInDetector::reset() {
  PV_ASSERT_OWNER(owner_);
  speech_ms_ = 0;
  gap_ms_ = 0;
  fired_ = false;
}

} // namespace pv::audio
