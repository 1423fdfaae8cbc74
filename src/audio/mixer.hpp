#pragma once
// Mixing and level measurement for 16-bit PCM.

#include "audio/frame.hpp"

#include <span>
#include <vector>

namespace pv::audio {

// acc[i] = saturate(acc[i] + gain * src[i]) for i < min(size). Sizes must match (asserted).
void mix_into(std::span<int16_t> acc, std::span<const int16_t> src, float gain = 1.0f);

// Mixes several sources (e.g. remote participants, or a reply and a filler) into one frame.
class Mixer {
public:
  explicit Mixer(int sample_rate_hz = kRoomRateHz);
  // Starts a new output frame of `samples` samples (silence).
  void begin(std::size_t samples);
  void add(std::span<const int16_t> src, float gain = 1.0f);
  std::span<const int16_t> result() const;

private:
  int rate_;
  std::vector<int32_t> acc_;
  std::vector<int16_t> out_;
  bool dirty_ = false;
};

// RMS level of a block in dBFS (full-scale sine = -3.01 dBFS); -120 for digital silence.
double rms_dbfs(std::span<const int16_t> samples);
// Peak absolute sample.
int peak_abs(std::span<const int16_t> samples);

} // namespace pv::audio
