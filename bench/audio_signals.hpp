#pragma once
// Deterministic speech-like test material for the audio benchmarks: a few harmonics with a slow
// amplitude envelope plus low-level noise (a pure sine would flatter the codec).

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numbers>
#include <random>
#include <vector>

namespace pv::bench {

inline std::vector<int16_t> voice_like(int sample_rate_hz, int seconds) {
  std::vector<int16_t> out(static_cast<std::size_t>(sample_rate_hz) * seconds);
  std::mt19937 rng(1);
  std::normal_distribution<double> noise(0.0, 300.0);
  double const two_pi = 2.0 * std::numbers::pi;
  for (std::size_t i = 0; i < out.size(); ++i) {
    double const t = static_cast<double>(i) / sample_rate_hz;
    double const envelope = 0.55 + 0.45 * std::sin(two_pi * 3.0 * t); // ~syllable rate
    double v = 0;
    for (int h = 1; h <= 6; ++h) {
      v += std::sin(two_pi * 140.0 * h * t) / h;
    }
    double const s = 9000.0 * envelope * v + noise(rng);
    out[i] = static_cast<int16_t>(std::clamp(s, -32768.0, 32767.0));
  }
  return out;
}

} // namespace pv::bench
