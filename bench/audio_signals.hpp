#pragma once
// Deterministic speech-like material for the audio benchmarks. Opus cost depends on the mode it
// picks (SILK for speech, CELT for tonal music), so a pure tone would misrepresent a voice agent:
// this is a crude source-filter voice instead — a glottal pulse train with drifting pitch through
// three formant resonators that move every "syllable", fricative noise bursts and short pauses.
// It is made at 48 kHz (the room rate) and resampled, as live audio is: Opus's mode analysis
// (complexity >= 7) reacts to the spectrum above the codec's band, so material synthesised
// directly at 24 kHz costs a different amount to encode (measured: 73 vs 176 us per 20 ms at
// complexity 9).

#include "audio/resampler.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <numbers>
#include <random>
#include <span>
#include <string>
#include <vector>

namespace pv::bench {

// Two-pole resonator (formant) at `freq_hz` with bandwidth `bw_hz`.
class Resonator {
public:
  void tune(double freq_hz, double bw_hz, int rate) {
    double const r = std::exp(-std::numbers::pi * bw_hz / rate);
    a1_ = 2.0 * r * std::cos(2.0 * std::numbers::pi * freq_hz / rate);
    a2_ = -r * r;
    gain_ = 1.0 - r;
  }
  double step(double x) {
    double const y = gain_ * x + a1_ * y1_ + a2_ * y2_;
    y2_ = y1_;
    y1_ = y;
    return y;
  }

private:
  double a1_ = 0, a2_ = 0, gain_ = 0, y1_ = 0, y2_ = 0;
};

inline std::vector<int16_t> voice_like_48k(int seconds) {
  constexpr int sample_rate_hz = 48000;
  std::vector<int16_t> out(static_cast<std::size_t>(sample_rate_hz) * seconds);
  std::mt19937 rng(1);
  std::uniform_real_distribution<double> uni(-1.0, 1.0);
  // (F1, F2, F3) of a few vowels.
  constexpr std::array<std::array<double, 3>, 5> kVowels = {{{730, 1090, 2440},
                                                             {270, 2290, 3010},
                                                             {530, 1840, 2480},
                                                             {570, 840, 2410},
                                                             {300, 870, 2240}}};
  std::array<Resonator, 3> formants;
  auto const syllable = static_cast<std::size_t>(sample_rate_hz * 0.18);
  double phase = 0;
  for (std::size_t i = 0; i < out.size(); ++i) {
    std::size_t const s = i / syllable;
    std::size_t const pos = i % syllable;
    if (pos == 0) {
      const auto& v = kVowels[s % kVowels.size()];
      for (std::size_t k = 0; k < 3; ++k) {
        formants[k].tune(v[k] * (0.95 + 0.1 * (s % 3) / 2.0), 80.0 + 40.0 * static_cast<double>(k),
                         sample_rate_hz);
      }
    }
    double const t = static_cast<double>(i) / sample_rate_hz;
    double const f0 = 120.0 + 30.0 * std::sin(2.0 * std::numbers::pi * 0.7 * t);
    double excitation = 0;
    bool const pause = s % 7 == 6;     // every 7th syllable is silence
    bool const fricative = s % 5 == 3; // "s"-like noise
    if (!pause) {
      if (fricative) {
        excitation = 0.3 * uni(rng);
      } else {
        phase += f0 / sample_rate_hz;
        if (phase >= 1.0) {
          phase -= 1.0;
          excitation = 1.0; // glottal pulse
        }
        excitation += 0.02 * uni(rng); // breath
      }
    }
    double y = 0;
    for (auto& f : formants) {
      y += f.step(excitation);
    }
    // Syllable envelope: rise and fall within each syllable.
    double const env = std::sin(std::numbers::pi * static_cast<double>(pos) / syllable);
    double const sample = 9000.0 * env * y + 20.0 * uni(rng); // + room noise floor
    out[i] = static_cast<int16_t>(std::clamp(std::lround(sample), -32768L, 32767L));
  }
  return out;
}

inline std::vector<int16_t> voice_like(int sample_rate_hz, int seconds) {
  audio::PcmBuffer clip{48000, voice_like_48k(seconds)};
  if (sample_rate_hz == 48000) {
    return clip.samples;
  }
  return audio::resample_clip(clip, sample_rate_hz).value().samples;
}

// Opus mode of a packet from its TOC byte (RFC 6716 §3.1).
inline const char* opus_mode(uint8_t toc) {
  int const config = toc >> 3;
  return config < 12 ? "silk" : (config < 16 ? "hybrid" : "celt");
}

inline std::string mode_mix(std::span<const std::vector<uint8_t>> packets) {
  int silk = 0, hybrid = 0, celt = 0;
  for (const auto& p : packets) {
    std::string const m = opus_mode(p[0]);
    silk += m == "silk";
    hybrid += m == "hybrid";
    celt += m == "celt";
  }
  return "silk " + std::to_string(silk) + " / hybrid " + std::to_string(hybrid) + " / celt " +
         std::to_string(celt);
}

} // namespace pv::bench
