#include "cascade/orchestrator_output.hpp"

#include "cascade/memory.hpp"

#include <algorithm>

namespace pv::cascade {

namespace {

// Speech runs at roughly 14 characters per second; used only while a sentence is still being
// synthesized (streaming remote TTS) and its length is not known yet.
constexpr int64_t kEstimatedSamplesPerChar = 48000 / 14;

} // namespace

ReplyPlayout::ReplyPlayout(const audio::PlayoutBufferParams& params) : buffer_(params) {}

int64_t ReplyPlayout::consumed_locked() const {
  // Only this class pushes, under mutex_, so `pushed` cannot move here; `buffered` only shrinks
  // (the clock thread pulls), so the result is never ahead of what was really pulled.
  return buffer_.stats().pushed_samples - static_cast<int64_t>(buffer_.buffered_samples());
}

ReplyPlayout::Sentence* ReplyPlayout::find_locked(uint64_t reply, std::size_t index) {
  if (reply != reply_) {
    return nullptr;
  }
  for (auto it = sentences_.rbegin(); it != sentences_.rend(); ++it) {
    if (it->index == index) {
      return &*it;
    }
  }
  return nullptr;
}

void ReplyPlayout::begin_reply(uint64_t reply) {
  std::lock_guard lock(mutex_);
  reply_ = reply;
  reply_audio_started_ = false;
  filler_in_buffer_ = false;
  reply_ended_ = false;
  reply_end_index_ = -1;
  sentences_.clear();
}

bool ReplyPlayout::push_filler(uint64_t reply, std::span<const int16_t> pcm_48k) {
  std::lock_guard lock(mutex_);
  if (reply != reply_ || reply_audio_started_ || reply_ended_ || pcm_48k.empty() ||
      buffer_.free_samples() < pcm_48k.size()) {
    return false;
  }
  buffer_.push(pcm_48k);
  buffer_.end_stream(); // the filler alone is a complete stream: no underrun after it
  filler_in_buffer_ = true;
  return true;
}

void ReplyPlayout::begin_sentence(uint64_t reply, std::size_t index, std::string text) {
  std::lock_guard lock(mutex_);
  if (reply != reply_) {
    return;
  }
  Sentence s;
  s.index = index;
  s.text = std::move(text);
  sentences_.push_back(std::move(s));
}

std::optional<std::size_t> ReplyPlayout::push(uint64_t reply, std::size_t index,
                                              const CancelToken& cancel,
                                              std::span<const int16_t> pcm_48k) {
  std::lock_guard lock(mutex_);
  if (cancel.cancelled() || reply != reply_ || reply_ended_) {
    return std::nullopt;
  }
  if (!reply_audio_started_ && filler_in_buffer_) {
    buffer_.flush(); // the reply starts: cut the rest of the filler
    filler_in_buffer_ = false;
  }
  const std::size_t n = std::min(pcm_48k.size(), buffer_.free_samples());
  if (n == 0) {
    return std::size_t{0};
  }
  const int64_t begin = buffer_.stats().pushed_samples;
  if (Sentence* s = find_locked(reply, index); s != nullptr) {
    if (s->begin < 0) {
      s->begin = begin;
    }
    s->pushed += static_cast<int64_t>(n);
  }
  buffer_.push(pcm_48k.first(n));
  reply_audio_started_ = true;
  return n;
}

void ReplyPlayout::set_sentence_total(uint64_t reply, std::size_t index, int64_t total_samples) {
  std::lock_guard lock(mutex_);
  if (Sentence* s = find_locked(reply, index); s != nullptr) {
    s->total = total_samples;
  }
}

void ReplyPlayout::end_reply(uint64_t reply) {
  std::lock_guard lock(mutex_);
  if (reply != reply_ || reply_ended_) {
    return;
  }
  reply_ended_ = true;
  reply_end_index_ = buffer_.stats().pushed_samples;
  buffer_.end_stream();
}

std::string ReplyPlayout::heard_part(const std::string& text, int64_t played, int64_t total) {
  if (total <= 0 || played <= 0) {
    return {};
  }
  return heard_prefix(text,
                      static_cast<double>(std::min(played, total)) / static_cast<double>(total));
}

PlayoutCut ReplyPlayout::cut(uint64_t reply) {
  std::lock_guard lock(mutex_);
  PlayoutCut result;
  if (reply != reply_) {
    return result;
  }
  result.discarded_samples = buffer_.flush();
  // Everything pushed before the discarded tail was pulled (FIFO; pushes only happen under mutex_).
  const int64_t first_unplayed =
      buffer_.stats().pushed_samples - static_cast<int64_t>(result.discarded_samples);
  for (const Sentence& s : sentences_) {
    if (s.begin < 0 || s.begin >= first_unplayed) {
      continue;
    }
    result.reply_audio_played = true;
    const int64_t estimate = static_cast<int64_t>(s.text.size()) * kEstimatedSamplesPerChar;
    const int64_t total = s.total >= 0 ? s.total : std::max(s.pushed, estimate);
    const std::string part = heard_part(s.text, first_unplayed - s.begin, total);
    if (!part.empty()) {
      result.heard_text += (result.heard_text.empty() ? "" : " ") + part;
    }
  }
  // Nothing of this reply may be pushed any more.
  reply_ = 0;
  filler_in_buffer_ = false;
  sentences_.clear();
  return result;
}

bool ReplyPlayout::played_through(uint64_t reply) const {
  std::lock_guard lock(mutex_);
  return reply == reply_ && reply_ended_ && consumed_locked() >= reply_end_index_;
}

bool ReplyPlayout::reply_audio_started(uint64_t reply) const {
  std::lock_guard lock(mutex_);
  return reply == reply_ && reply_audio_started_;
}

} // namespace pv::cascade
