#include "audio/playout_buffer.hpp"

#include <algorithm>
#include <cassert>
#include <cstring>

namespace pv::audio {

PlayoutBuffer::PlayoutBuffer(const PlayoutBufferParams& params) : params_(params) {
  assert(params.sample_rate_hz > 0);
  int const rate = std::max(params.sample_rate_hz, 1);
  max_depth_ =
      std::max<std::size_t>(static_cast<std::size_t>(samples_for_ms(rate, params.max_depth_ms)),
                            static_cast<std::size_t>(samples_per_frame(rate)));
  prebuffer_ = std::min<std::size_t>(
      static_cast<std::size_t>(samples_for_ms(rate, std::max(params.prebuffer_ms, 0))), max_depth_);
  ring_.assign(max_depth_, 0);
}

std::size_t PlayoutBuffer::push(std::span<const int16_t> samples) {
  std::lock_guard lock(mutex_);
  if (samples.empty()) {
    return 0;
  }
  std::size_t const cap = ring_.size();
  std::size_t dropped = 0;
  std::span<const int16_t> src = samples;
  if (src.size() > cap) {
    dropped += src.size() - cap;
    src = src.last(cap);
  }
  if (size_ + src.size() > cap) {
    std::size_t const overflow = size_ + src.size() - cap;
    head_ = (head_ + overflow) % cap;
    size_ -= overflow;
    dropped += overflow;
  }
  std::size_t const tail = (head_ + size_) % cap;
  std::size_t const first = std::min(src.size(), cap - tail);
  std::memcpy(ring_.data() + tail, src.data(), first * sizeof(int16_t));
  std::memcpy(ring_.data(), src.data() + first, (src.size() - first) * sizeof(int16_t));
  size_ += src.size();

  stats_.pushed_samples += static_cast<int64_t>(samples.size());
  stats_.dropped_samples += static_cast<int64_t>(dropped);
  ending_ = false;
  if (state_ == State::idle) {
    state_ = State::priming;
  }
  if (state_ == State::priming && size_ >= prebuffer_) {
    state_ = State::playing;
  }
  return dropped;
}

void PlayoutBuffer::end_stream() {
  std::lock_guard lock(mutex_);
  if (state_ == State::idle) {
    return;
  }
  if (size_ == 0) {
    state_ = State::idle;
    ending_ = false;
    return;
  }
  ending_ = true;
  state_ = State::playing; // a short stream below the prebuffer still plays out
}

std::size_t PlayoutBuffer::pull(std::span<int16_t> out) {
  std::lock_guard lock(mutex_);
  if (state_ != State::playing) {
    std::fill(out.begin(), out.end(), int16_t{0});
    return 0;
  }
  std::size_t const cap = ring_.size();
  std::size_t const n = std::min(size_, out.size());
  std::size_t const first = std::min(n, cap - head_);
  std::memcpy(out.data(), ring_.data() + head_, first * sizeof(int16_t));
  std::memcpy(out.data() + first, ring_.data(), (n - first) * sizeof(int16_t));
  std::fill(out.begin() + static_cast<std::ptrdiff_t>(n), out.end(), int16_t{0});
  head_ = (head_ + n) % cap;
  size_ -= n;
  stats_.played_samples += static_cast<int64_t>(n);
  if (n < out.size() && !ending_) {
    ++stats_.underruns;
  }
  if (size_ == 0 && ending_) {
    state_ = State::idle;
    ending_ = false;
  }
  return n;
}

std::size_t PlayoutBuffer::flush() {
  std::lock_guard lock(mutex_);
  std::size_t const n = size_;
  stats_.flushed_samples += static_cast<int64_t>(n);
  head_ = 0;
  size_ = 0;
  state_ = State::idle;
  ending_ = false;
  return n;
}

std::size_t PlayoutBuffer::buffered_samples() const {
  std::lock_guard lock(mutex_);
  return size_;
}

std::size_t PlayoutBuffer::free_samples() const {
  std::lock_guard lock(mutex_);
  return ring_.size() - size_;
}

int PlayoutBuffer::buffered_ms() const {
  std::lock_guard lock(mutex_);
  return static_cast<int>(static_cast<int64_t>(size_) * 1000 / params_.sample_rate_hz);
}

PlayoutStats PlayoutBuffer::stats() const {
  std::lock_guard lock(mutex_);
  return stats_;
}

bool PlayoutBuffer::active() const {
  std::lock_guard lock(mutex_);
  return state_ != State::idle;
}

} // namespace pv::audio
