#pragma once
// Test signals and their measurement: sine generation (one-shot or continuous across frames),
// frequency estimation (zero crossings, or a windowed-DFT peak search for noisier signals), tone
// level, a least-squares sine fit (for click/discontinuity checks) and a counting ramp.
// All levels are fractions of full scale (1.0 = 32767) unless a name says dBFS.

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace pv::testsupport {

// `samples` samples of amplitude * 32767 * sin(2π f n / rate + phase), rounded.
std::vector<int16_t> make_sine(int sample_rate_hz, double freq_hz, double amplitude,
                               std::size_t samples, double phase_rad = 0.0);

// A sine that continues seamlessly across calls (for feeding 20 ms frames).
class SineGenerator {
public:
  SineGenerator(int sample_rate_hz, double freq_hz, double amplitude, double phase_rad = 0.0);
  void fill(std::span<int16_t> out);
  std::vector<int16_t> next(std::size_t samples);
  int64_t position() const { return position_; } // samples generated so far

private:
  int rate_;
  double freq_;
  double amplitude_;
  double phase_;
  int64_t position_ = 0;
};

// Frequency from rising zero crossings (interpolated). Needs a clean tone with no DC; 0 if fewer
// than two crossings.
double zero_crossing_frequency(std::span<const int16_t> samples, int sample_rate_hz);

// Frequency of the strongest component in [lo_hz, hi_hz]: Hann-windowed DFT magnitude on a grid
// of `step_hz`, refined by golden-section search to ~0.01 Hz. Analyses at most the middle
// `max_samples` samples (cost grows with samples x grid points).
double peak_frequency(std::span<const int16_t> samples, int sample_rate_hz, double lo_hz,
                      double hi_hz, double step_hz = 5.0, std::size_t max_samples = 8192);

// Least-squares fit of a*cos + b*sin + dc at a known frequency.
struct SineFit {
  double amplitude = 0;    // fraction of full scale
  double phase_rad = 0;    // of the sine: x ≈ amplitude * sin(2π f n / rate + phase) + dc
  double dc = 0;           // fraction of full scale
  double residual_rms = 0; // in LSB (int16 units)
  double residual_max = 0; // in LSB
};
SineFit fit_sine(std::span<const int16_t> samples, int sample_rate_hz, double freq_hz);

// Level of the component at `freq_hz` in dBFS (full-scale sine = -3.01 dBFS, like rms_dbfs).
double tone_level_dbfs(std::span<const int16_t> samples, int sample_rate_hz, double freq_hz);

// Largest |x[i+1] - x[i]|.
int max_abs_step(std::span<const int16_t> samples);
// Largest step a sine of this amplitude/frequency can make between samples, in LSB.
double sine_max_step(double freq_hz, double amplitude, int sample_rate_hz);

// Counting ramp: value(i) = int16(uint16(start + i)), wrapping. Used to detect lost, duplicated or
// reordered samples.
std::vector<int16_t> counting_ramp(int64_t start, std::size_t samples);
int16_t ramp_value(int64_t index);

} // namespace pv::testsupport
