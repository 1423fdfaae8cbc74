#include "agent/loopback_backend.hpp"

#include "audio/mixer.hpp"

#include <algorithm>

namespace pv::agent {

LoopbackBackend::LoopbackBackend(const LoopbackParams& params)
    : params_(params),
      playout_(audio::PlayoutBufferParams{audio::kRoomRateHz, params.max_utterance_ms + 1000, 0}) {}

tl::expected<void, conversation::BackendError>
LoopbackBackend::start(const conversation::BackendContext& context) {
  context_ = context;
  utterance_.reserve(static_cast<std::size_t>(
      audio::samples_for_ms(audio::kRoomRateHz, params_.max_utterance_ms)));
  return {};
}

bool LoopbackBackend::idle() const {
  return idle_.load();
}

void LoopbackBackend::on_room_frame(const audio::Frame& in) {
  PV_ASSERT_OWNER(clock_thread_);
  const bool loud = audio::rms_dbfs(in.samples()) > params_.speech_threshold_dbfs;
  const int64_t now = context_.media_time_ms ? context_.media_time_ms() : 0;
  switch (state_) {
  case State::listening:
    if (loud) {
      state_ = State::in_speech;
      idle_ = false;
      utterance_.clear();
      speech_ms_ = silence_ms_ = 0;
      if (context_.observer) {
        context_.observer->on_user_speech_start(now);
      }
    } else {
      break;
    }
    [[fallthrough]];
  case State::in_speech: {
    const std::size_t room = utterance_.capacity() - utterance_.size();
    const std::size_t n = std::min(room, in.size());
    utterance_.insert(utterance_.end(), in.samples().begin(),
                      in.samples().begin() + static_cast<std::ptrdiff_t>(n));
    if (loud) {
      speech_ms_ += audio::kFrameMs + silence_ms_;
      silence_ms_ = 0;
      speech_end_ms_ = now + audio::kFrameMs;
    } else {
      silence_ms_ += audio::kFrameMs;
    }
    const bool full = n < in.size();
    if (silence_ms_ >= params_.silence_ms || full) {
      if (speech_ms_ < params_.min_speech_ms) {
        state_ = State::listening; // a click, not an utterance
        idle_ = true;
        break;
      }
      // Drop the trailing silence; the echo is the speech itself.
      const auto trailing =
          static_cast<std::size_t>(audio::samples_for_ms(audio::kRoomRateHz, silence_ms_));
      utterance_.resize(utterance_.size() - std::min(trailing, utterance_.size()));
      ++turn_id_;
      turn_end_ms_ = now;
      if (context_.observer) {
        context_.observer->on_user_turn_end(turn_id_, speech_end_ms_);
      }
      state_ = State::pausing;
      pause_ms_ = 0;
    }
    break;
  }
  case State::pausing:
    pause_ms_ += audio::kFrameMs;
    if (pause_ms_ >= params_.reply_pause_ms) {
      reply_start_ms_ = now;
      playout_.push(utterance_);
      playout_.end_stream();
      state_ = State::replying;
    }
    break;
  case State::replying:
    break; // half duplex: the echo is not interrupted
  }
}

void LoopbackBackend::fill_agent_frame(audio::Frame& out) {
  PV_ASSERT_OWNER(clock_thread_);
  if (state_ != State::replying) {
    return;
  }
  playout_.pull(out.samples());
  if (!allowed_) {
    out.clear_to_silence();
  }
  if (playout_.buffered_samples() == 0) {
    state_ = State::listening;
    idle_ = true;
    if (context_.observer) {
      conversation::TurnReport report;
      report.turn_id = turn_id_;
      report.latency_parts_ms = {
          {"vad_wait", static_cast<double>(turn_end_ms_ - speech_end_ms_)},
          {"reply_pause", static_cast<double>(reply_start_ms_ - turn_end_ms_)}};
      context_.observer->on_turn_complete(std::move(report));
    }
  }
}

} // namespace pv::agent
