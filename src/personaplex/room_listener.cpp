#include "personaplex/room_listener.hpp"
#include "util/text.hpp"

#include <algorithm>

namespace pv::personaplex {

tl::expected<RoomTurnDetector, std::string>
RoomTurnDetector::create(const audio::VadSegmenterParams& params) {
  auto downsampler = audio::FrameResampler::create(
      audio::ResamplerParams{audio::kRoomRateHz, audio::kSpeechRateHz, 5});
  if (!downsampler) {
    return tl::unexpected("resampler: " + downsampler.error());
  }
  auto segmenter = audio::VadSegmenter::create(params);
  if (!segmenter) {
    return tl::unexpected("VAD: " + segmenter.error().message);
  }
  return RoomTurnDetector(std::move(*downsampler), std::move(*segmenter));
}

RoomTurnDetector::RoomTurnDetector(audio::FrameResampler downsampler, audio::VadSegmenter segmenter)
    : downsampler_(std::move(downsampler)), segmenter_(std::move(segmenter)) {}

void ReplyTracker::on_output(bool audible, int64_t media_ms) {
  if (audible) {
    speaking_ = true;
    last_audible_ms_ = media_ms + audio::kFrameMs;
    return;
  }
  if (speaking_ && media_ms - last_audible_ms_ >= quiet_ms_) {
    speaking_ = false;
    finish_reply();
  }
}

void ReplyTracker::on_text(const std::string& piece) {
  current_ += piece;
}

void ReplyTracker::finish_reply() {
  std::string reply(util::trim(current_));
  current_.clear();
  if (reply.empty()) {
    return;
  }
  replies_.push_back(std::move(reply));
  while (replies_.size() > max_replies_) {
    replies_.pop_front();
  }
}

std::vector<std::string> ReplyTracker::said() const {
  std::vector<std::string> out(replies_.begin(), replies_.end());
  std::string pending(util::trim(current_));
  if (!pending.empty()) {
    out.push_back(std::move(pending));
  }
  return out;
}

} // namespace pv::personaplex
