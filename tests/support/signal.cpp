#include "support/signal.hpp"

#include <algorithm>
#include <cmath>
#include <numbers>

namespace pv::testsupport {
namespace {

constexpr double kScale = 32767.0;
constexpr double kTwoPi = 2.0 * std::numbers::pi;

int16_t to_sample(double v) {
  return static_cast<int16_t>(std::clamp(std::lround(v), -32768L, 32767L));
}

std::span<const int16_t> middle(std::span<const int16_t> s, std::size_t max_samples) {
  if (s.size() <= max_samples) {
    return s;
  }
  return s.subspan((s.size() - max_samples) / 2, max_samples);
}

// Magnitude of the Hann-windowed DFT at an arbitrary frequency.
double windowed_magnitude(std::span<const int16_t> s, int rate, double freq) {
  double re = 0;
  double im = 0;
  double const w = kTwoPi * freq / rate;
  double const n = static_cast<double>(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    double const hann = 0.5 - 0.5 * std::cos(kTwoPi * static_cast<double>(i) / n);
    double const x = s[i] * hann;
    re += x * std::cos(w * static_cast<double>(i));
    im -= x * std::sin(w * static_cast<double>(i));
  }
  return std::hypot(re, im);
}

} // namespace

std::vector<int16_t> make_sine(int sample_rate_hz, double freq_hz, double amplitude,
                               std::size_t samples, double phase_rad) {
  SineGenerator gen(sample_rate_hz, freq_hz, amplitude, phase_rad);
  return gen.next(samples);
}

SineGenerator::SineGenerator(int sample_rate_hz, double freq_hz, double amplitude, double phase_rad)
    : rate_(sample_rate_hz), freq_(freq_hz), amplitude_(amplitude), phase_(phase_rad) {}

void SineGenerator::fill(std::span<int16_t> out) {
  for (auto& s : out) {
    // Phase from the absolute index (not accumulated) so long runs do not drift.
    double const t = static_cast<double>(position_++) / rate_;
    s = to_sample(amplitude_ * kScale * std::sin(kTwoPi * freq_ * t + phase_));
  }
}

std::vector<int16_t> SineGenerator::next(std::size_t samples) {
  std::vector<int16_t> out(samples);
  fill(out);
  return out;
}

double zero_crossing_frequency(std::span<const int16_t> samples, int sample_rate_hz) {
  double first = -1;
  double last = -1;
  int crossings = 0;
  for (std::size_t i = 1; i < samples.size(); ++i) {
    if (samples[i - 1] < 0 && samples[i] >= 0) {
      double const a = samples[i - 1];
      double const b = samples[i];
      double const t = static_cast<double>(i - 1) + (-a) / (b - a);
      if (crossings == 0) {
        first = t;
      }
      last = t;
      ++crossings;
    }
  }
  if (crossings < 2) {
    return 0.0;
  }
  return (crossings - 1) * sample_rate_hz / (last - first);
}

double peak_frequency(std::span<const int16_t> samples, int sample_rate_hz, double lo_hz,
                      double hi_hz, double step_hz, std::size_t max_samples) {
  auto const s = middle(samples, max_samples);
  double best_f = lo_hz;
  double best_m = -1;
  for (double f = lo_hz; f <= hi_hz; f += step_hz) {
    double const m = windowed_magnitude(s, sample_rate_hz, f);
    if (m > best_m) {
      best_m = m;
      best_f = f;
    }
  }
  // Golden-section search for the maximum around the best grid point.
  double a = std::max(lo_hz, best_f - step_hz);
  double b = std::min(hi_hz, best_f + step_hz);
  double const g = (std::sqrt(5.0) - 1.0) / 2.0;
  double c = b - g * (b - a);
  double d = a + g * (b - a);
  double mc = windowed_magnitude(s, sample_rate_hz, c);
  double md = windowed_magnitude(s, sample_rate_hz, d);
  while (b - a > 0.01) {
    if (mc > md) {
      b = d;
      d = c;
      md = mc;
      c = b - g * (b - a);
      mc = windowed_magnitude(s, sample_rate_hz, c);
    } else {
      a = c;
      c = d;
      mc = md;
      d = a + g * (b - a);
      md = windowed_magnitude(s, sample_rate_hz, d);
    }
  }
  return (a + b) / 2.0;
}

SineFit fit_sine(std::span<const int16_t> samples, int sample_rate_hz, double freq_hz) {
  // Normal equations for x ≈ a cos(wn) + b sin(wn) + c.
  double const w = kTwoPi * freq_hz / sample_rate_hz;
  double m[3][3] = {};
  double v[3] = {};
  for (std::size_t i = 0; i < samples.size(); ++i) {
    double const basis[3] = {std::cos(w * static_cast<double>(i)),
                             std::sin(w * static_cast<double>(i)), 1.0};
    for (int r = 0; r < 3; ++r) {
      for (int c = 0; c < 3; ++c) {
        m[r][c] += basis[r] * basis[c];
      }
      v[r] += basis[r] * samples[i];
    }
  }
  // Gaussian elimination with partial pivoting (3x3).
  for (int col = 0; col < 3; ++col) {
    int pivot = col;
    for (int r = col + 1; r < 3; ++r) {
      if (std::abs(m[r][col]) > std::abs(m[pivot][col])) {
        pivot = r;
      }
    }
    std::swap(m[col], m[pivot]);
    std::swap(v[col], v[pivot]);
    for (int r = col + 1; r < 3; ++r) {
      double const f = m[r][col] / m[col][col];
      for (int c = col; c < 3; ++c) {
        m[r][c] -= f * m[col][c];
      }
      v[r] -= f * v[col];
    }
  }
  double x[3];
  for (int r = 2; r >= 0; --r) {
    double acc = v[r];
    for (int c = r + 1; c < 3; ++c) {
      acc -= m[r][c] * x[c];
    }
    x[r] = acc / m[r][r];
  }
  SineFit fit;
  fit.amplitude = std::hypot(x[0], x[1]) / kScale;
  fit.phase_rad = std::atan2(x[0], x[1]); // a cos + b sin = A sin(wn + φ), tan φ = a / b
  fit.dc = x[2] / kScale;
  double sum2 = 0;
  for (std::size_t i = 0; i < samples.size(); ++i) {
    double const model = x[0] * std::cos(w * static_cast<double>(i)) +
                         x[1] * std::sin(w * static_cast<double>(i)) + x[2];
    double const r = samples[i] - model;
    sum2 += r * r;
    fit.residual_max = std::max(fit.residual_max, std::abs(r));
  }
  fit.residual_rms = samples.empty() ? 0.0 : std::sqrt(sum2 / static_cast<double>(samples.size()));
  return fit;
}

double tone_level_dbfs(std::span<const int16_t> samples, int sample_rate_hz, double freq_hz) {
  SineFit const fit = fit_sine(samples, sample_rate_hz, freq_hz);
  // RMS of the fitted sine relative to full scale (32768), like audio::rms_dbfs.
  double const rms = fit.amplitude * kScale / std::sqrt(2.0);
  return rms <= 0 ? -120.0 : std::max(-120.0, 20.0 * std::log10(rms / 32768.0));
}

int max_abs_step(std::span<const int16_t> samples) {
  int step = 0;
  for (std::size_t i = 1; i < samples.size(); ++i) {
    step = std::max(step, std::abs(static_cast<int>(samples[i]) - samples[i - 1]));
  }
  return step;
}

double sine_max_step(double freq_hz, double amplitude, int sample_rate_hz) {
  // max |sin(x + d) - sin(x)| = 2 sin(d / 2)
  return amplitude * kScale * 2.0 * std::sin(std::numbers::pi * freq_hz / sample_rate_hz);
}

int16_t ramp_value(int64_t index) {
  return static_cast<int16_t>(static_cast<uint16_t>(static_cast<uint64_t>(index) & 0xFFFF));
}

std::vector<int16_t> counting_ramp(int64_t start, std::size_t samples) {
  std::vector<int16_t> out(samples);
  for (std::size_t i = 0; i < samples; ++i) {
    out[i] = ramp_value(start + static_cast<int64_t>(i));
  }
  return out;
}

} // namespace pv::testsupport
