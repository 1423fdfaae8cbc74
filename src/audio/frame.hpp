#pragma once
// PCM types for the whole system: mono, signed 16-bit, with the sample rate carried alongside.
//
// Frame     – one 20 ms (or shorter) chunk with fixed inline capacity: moves by value on the
//             real-time path without touching the heap.
// PcmBuffer – an arbitrary-length clip (a WAV file, a TTS sentence, a recorded utterance).

#include <array>
#include <cassert>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace pv::audio {

inline constexpr int kRoomRateHz = 48000;        // Podium/Jitsi rooms
inline constexpr int kSpeechRateHz = 16000;      // VAD and ASR
inline constexpr int kPersonaPlexRateHz = 24000; // PersonaPlex / Mimi
inline constexpr int kFrameMs = 20;

constexpr int samples_per_frame(int sample_rate_hz) {
  return sample_rate_hz * kFrameMs / 1000;
}
constexpr int samples_for_ms(int sample_rate_hz, int ms) {
  return static_cast<int>(static_cast<int64_t>(sample_rate_hz) * ms / 1000);
}

// Largest frame: 20 ms at 48 kHz.
inline constexpr std::size_t kMaxFrameSamples =
    static_cast<std::size_t>(samples_per_frame(kRoomRateHz));

class Frame {
public:
  Frame() = default;

  // A silent 20 ms frame at `sample_rate_hz`.
  explicit Frame(int sample_rate_hz)
      : Frame(sample_rate_hz, static_cast<std::size_t>(samples_per_frame(sample_rate_hz))) {}

  // A silent frame of `count` samples (count <= kMaxFrameSamples).
  Frame(int sample_rate_hz, std::size_t count) : rate_(sample_rate_hz), count_(count) {
    assert(count <= kMaxFrameSamples);
  }

  int sample_rate() const { return rate_; }
  std::size_t size() const { return count_; }
  bool empty() const { return count_ == 0; }
  int duration_us() const {
    return rate_ == 0 ? 0 : static_cast<int>(static_cast<int64_t>(count_) * 1000000 / rate_);
  }

  std::span<int16_t> samples() { return {data_.data(), count_}; }
  std::span<const int16_t> samples() const { return {data_.data(), count_}; }

  // Changes the logical length; new samples (if growing) are zero.
  void resize(std::size_t count) {
    assert(count <= kMaxFrameSamples);
    for (std::size_t i = count_; i < count; ++i) {
      data_[i] = 0;
    }
    count_ = count;
  }

  void set_sample_rate(int sample_rate_hz) { rate_ = sample_rate_hz; }
  void clear_to_silence() {
    for (std::size_t i = 0; i < count_; ++i) {
      data_[i] = 0;
    }
  }

private:
  int rate_ = 0;
  std::size_t count_ = 0;
  std::array<int16_t, kMaxFrameSamples> data_{};
};

struct PcmBuffer {
  int sample_rate = 0;
  std::vector<int16_t> samples;

  int64_t duration_ms() const {
    return sample_rate == 0 ? 0 : static_cast<int64_t>(samples.size()) * 1000 / sample_rate;
  }
};

} // namespace pv::audio
