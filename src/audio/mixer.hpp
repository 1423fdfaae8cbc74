#pragma once
// Mixing and level measurement for 16-bit PCM.
//
// mix_into / rms_dbfs / peak_abs are stateless (any thread). A Mixer belongs to one thread (the
// room clock thread, typically): util::ThreadOwner, checked in debug builds; a moved-to Mixer
// re-binds on first use. Sums are kept in 32 bits and saturated once, so mixing A + B - B gives A
// back even when A + B alone would clip.

#include "audio/frame.hpp"
#include "util/thread_owner.hpp"

#include <span>
#include <vector>

namespace pv::audio {

// acc[i] = saturate(acc[i] + round(gain * src[i])). Sizes must match (asserted; in release builds
// only the common prefix is mixed).
void mix_into(std::span<int16_t> acc, std::span<const int16_t> src, float gain = 1.0f);

// Mixes several sources (e.g. remote participants, or a reply and a filler) into one frame.
// No allocation for frames up to kMaxFrameSamples.
class Mixer {
public:
  explicit Mixer(int sample_rate_hz = kRoomRateHz);
  Mixer(Mixer&& other) noexcept;
  Mixer& operator=(Mixer&& other) noexcept;

  // Starts a new output frame of `samples` samples (silence).
  void begin(std::size_t samples);
  // Adds a source of the same length as the frame (asserted; release builds mix the prefix).
  void add(std::span<const int16_t> src, float gain = 1.0f);
  // The saturated mix so far (valid until the next begin()).
  std::span<const int16_t> result() const;
  int sample_rate() const { return rate_; }

private:
  int rate_;
  std::vector<int32_t> acc_;
  std::vector<int16_t> out_;
  util::ThreadOwner owner_;
};

// RMS level of a block in dBFS, relative to a full-scale square wave (so a full-scale sine is
// -3.01 dBFS); -120 for digital silence or an empty block (the floor).
double rms_dbfs(std::span<const int16_t> samples);
// Peak absolute sample (32768 for -32768).
int peak_abs(std::span<const int16_t> samples);

} // namespace pv::audio
