#include "sim/model.hpp"

#include <algorithm>

namespace pv::sim {

namespace {

constexpr int kVadRateHz = 16000;
constexpr int kVadFrameMs = 20;
constexpr std::size_t kVadFrameSamples = 320;

} // namespace

tl::expected<SimModel, std::string> SimModel::create(const SimModelParams& params,
                                                     std::shared_ptr<const SpeechBank> bank,
                                                     uint64_t seed) {
  if (!bank || bank->reply_count() == 0) {
    return tl::unexpected(std::string("the model needs a speech bank with at least one reply"));
  }
  if (params.min_speech_ms < 0 || params.end_silence_ms <= 0 || params.interrupt_speech_ms <= 0 ||
      params.backchannel_after_ms < 0 || params.backchannel_probability < 0.0 ||
      params.backchannel_probability > 1.0) {
    return tl::unexpected(std::string("model timing parameters out of range"));
  }
  audio::ResamplerParams rs;
  rs.in_rate_hz = kModelRateHz;
  rs.out_rate_hz = kVadRateHz;
  auto resampler = audio::StreamResampler::create(rs);
  if (!resampler) {
    return tl::unexpected("resampler: " + resampler.error());
  }
  auto vad = audio::WebRtcVad::create({params.vad_mode, kVadRateHz});
  if (!vad) {
    return tl::unexpected("vad: " + vad.error().message);
  }
  return SimModel(params, std::move(bank), std::move(*resampler), std::move(*vad), seed);
}

SimModel::SimModel(const SimModelParams& params, std::shared_ptr<const SpeechBank> bank,
                   audio::StreamResampler resampler, audio::WebRtcVad vad, uint64_t seed)
    : params_(params), bank_(std::move(bank)), resampler_(std::move(resampler)),
      vad_(std::move(vad)), rng_(seed) {
  vad_fifo_.reserve(8 * kVadFrameSamples);
}

void SimModel::start_clip(const SpeechClip* clip, bool is_reply) {
  audio_clip_ = clip;
  audio_is_reply_ = is_reply;
  audio_pos_ = 0;
  text_clip_ = clip;
  text_pos_ = 0;
  text_clock_ = 0;
}

void SimModel::on_vad_frame(bool speech, ModelStep& out) {
  if (speech) {
    ++stats_.speech_frames;
    speech_run_ms_ += kVadFrameMs;
    silence_run_ms_ = 0;
    if (!utterance_open_) {
      utterance_open_ = true;
      utterance_ms_ = 0;
      utterance_speech_ms_ = 0;
      backchannel_decided_ = false;
    }
    utterance_speech_ms_ += kVadFrameMs;
  } else {
    speech_run_ms_ = 0;
    silence_run_ms_ += kVadFrameMs;
  }
  if (!utterance_open_) {
    return;
  }
  utterance_ms_ += kVadFrameMs;

  if (audio_clip_ != nullptr && audio_is_reply_ && speech_run_ms_ >= params_.interrupt_speech_ms) {
    out.interrupted = audio_clip_;
    if (text_clip_ == audio_clip_) {
      text_clip_ = nullptr;
    }
    audio_clip_ = nullptr;
    ++stats_.interruptions;
  }

  if (!backchannel_decided_ && speech && utterance_ms_ >= params_.backchannel_after_ms) {
    backchannel_decided_ = true;
    // A portable uniform draw in [0, 1) (the standard distributions differ between libraries).
    const double draw = static_cast<double>(rng_() >> 11) * 0x1.0p-53;
    if (bank_->backchannel() != nullptr && audio_clip_ == nullptr &&
        draw < params_.backchannel_probability) {
      start_clip(bank_->backchannel(), false);
      out.backchannel_started = audio_clip_;
      ++stats_.backchannels;
    }
  }

  if (silence_run_ms_ >= params_.end_silence_ms) {
    utterance_open_ = false;
    out.user_turn_ended = true;
    if (utterance_speech_ms_ >= params_.min_speech_ms) {
      reply_due_ = true;
      ++stats_.user_turns;
    } else {
      ++stats_.ignored_utterances;
    }
  }
}

ModelStep SimModel::step(std::span<const int16_t> input) {
  PV_ASSERT_OWNER(owner_);
  ModelStep out;
  ++stats_.steps;

  resampler_.process(input, vad_fifo_);
  while (vad_fifo_.size() - vad_fifo_head_ >= kVadFrameSamples) {
    const auto frame =
        std::span<const int16_t>(vad_fifo_).subspan(vad_fifo_head_, kVadFrameSamples);
    const auto speech = vad_.is_speech(frame);
    on_vad_frame(speech && *speech, out);
    vad_fifo_head_ += kVadFrameSamples;
  }
  // Keep the remainder at the front (no allocation: the capacity stays).
  vad_fifo_.erase(vad_fifo_.begin(),
                  vad_fifo_.begin() + static_cast<std::ptrdiff_t>(vad_fifo_head_));
  vad_fifo_head_ = 0;

  if (reply_due_) {
    reply_due_ = false;
    start_clip(&bank_->reply(static_cast<std::size_t>(next_reply_++)), true);
    out.reply_started = audio_clip_;
    ++stats_.replies;
  }

  const SilencePackets& silence = bank_->silence();
  if (audio_clip_ != nullptr) {
    out.packet = audio_clip_->packets[audio_pos_++];
    out.speaking = true;
    if (audio_pos_ >= audio_clip_->packets.size()) {
      audio_clip_ = nullptr;
    }
  } else {
    out.packet = sent_any_ ? silence.steady : silence.first;
  }
  sent_any_ = true;

  if (text_clip_ != nullptr) {
    text_clock_ += kModelFrameSamples;
    if (text_pos_ < text_clip_->pieces.size() &&
        text_clip_->pieces[text_pos_].start_sample < text_clock_) {
      out.text = text_clip_->pieces[text_pos_++].text;
      ++stats_.text_pieces;
    }
    if (text_pos_ >= text_clip_->pieces.size()) {
      text_clip_ = nullptr;
    }
  }
  return out;
}

} // namespace pv::sim
