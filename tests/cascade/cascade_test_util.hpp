#pragma once
// Helpers shared by the cascade tests: speech from the real flite TTS, labelled test signals,
// white noise at a stated SNR, signal statistics.

#include "audio/frame.hpp"
#include "cascade/tts/flite_tts.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace pv::cascade::testing {

inline FliteTts& flite() {
  static auto tts = [] {
    auto created = FliteTts::create({});
    EXPECT_TRUE(created.has_value());
    return std::move(*created);
  }();
  return *tts;
}

// The whole waveform flite produces for `text` (16 kHz).
inline audio::PcmBuffer speak(const std::string& text, VoiceOptions voice = {}) {
  audio::PcmBuffer pcm;
  TtsRequest request;
  request.text = text;
  request.voice = std::move(voice);
  auto result = flite().synthesize(request, [&](const TtsChunk& chunk) {
    pcm.sample_rate = chunk.sample_rate_hz;
    pcm.samples.insert(pcm.samples.end(), chunk.samples.begin(), chunk.samples.end());
  });
  EXPECT_TRUE(result.has_value()) << (result ? "" : result.error().message);
  return pcm;
}

inline double rms(const int16_t* data, std::size_t n) {
  if (n == 0) {
    return 0.0;
  }
  double sum = 0.0;
  for (std::size_t i = 0; i < n; ++i) {
    sum += static_cast<double>(data[i]) * data[i];
  }
  return std::sqrt(sum / static_cast<double>(n));
}
inline double rms(const std::vector<int16_t>& v) {
  return rms(v.data(), v.size());
}

// Ground-truth speech span of a clip: from the first to the end of the last 10 ms window whose
// RMS is within 20 dB of the loudest window (flite puts faint blips before some onsets).
inline std::pair<std::size_t, std::size_t> audible_span(const std::vector<int16_t>& v) {
  constexpr std::size_t kWin = 160;
  double peak = 0;
  for (std::size_t i = 0; i + kWin <= v.size(); i += kWin) {
    peak = std::max(peak, rms(v.data() + i, kWin));
  }
  std::size_t first = v.size();
  std::size_t last = 0;
  for (std::size_t i = 0; i + kWin <= v.size(); i += kWin) {
    if (peak > 0 && rms(v.data() + i, kWin) >= peak / 10.0) {
      first = std::min(first, i);
      last = i + kWin;
    }
  }
  return {first, last};
}

inline std::vector<int16_t> trimmed(const std::vector<int16_t>& v) {
  const auto [first, last] = audible_span(v);
  if (first >= last) {
    return {};
  }
  return {v.begin() + static_cast<std::ptrdiff_t>(first),
          v.begin() + static_cast<std::ptrdiff_t>(last)};
}

// Adds white Gaussian noise with the given RMS (deterministic for a given seed).
inline void add_white_noise(std::vector<int16_t>& v, double noise_rms, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<double> gauss(0.0, noise_rms);
  for (auto& s : v) {
    const double x = static_cast<double>(s) + gauss(rng);
    s = static_cast<int16_t>(std::lround(std::clamp(x, -32768.0, 32767.0)));
  }
}

} // namespace pv::cascade::testing
