// Live resamplers (speexdsp q5) for every conversion the system uses, and the offline clip
// resampler (soxr HQ). Checks level and frequency of a 1 kHz tone, anti-aliasing of a 10 kHz tone
// going 48k->16k, continuity across 20 ms frame boundaries (frame-fed output is sample-identical to
// one-shot output and fits an ideal sine), exact output counts over time, and the added delay
// measured with an impulse fed in 20 ms frames.

#include "audio/mixer.hpp"
#include "audio/resampler.hpp"

#include "support/signal.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>

namespace pv::audio {
namespace {

using testsupport::fit_sine;
using testsupport::make_sine;
using testsupport::SineGenerator;
using testsupport::zero_crossing_frequency;

struct RatePair {
  int in;
  int out;
};

std::string pair_name(const testing::TestParamInfo<RatePair>& info) {
  return std::to_string(info.param.in / 1000) + "k_to_" + std::to_string(info.param.out / 1000) +
         "k";
}

class LiveResampler : public testing::TestWithParam<RatePair> {
protected:
  StreamResampler make() {
    auto rs = StreamResampler::create({GetParam().in, GetParam().out, 5});
    EXPECT_TRUE(rs.has_value());
    return std::move(*rs);
  }

  // Feeds `frames` 20 ms frames of a continuous sine; returns the whole output.
  std::vector<int16_t> run_sine(StreamResampler& rs, double freq, double amplitude, int frames) {
    SineGenerator gen(GetParam().in, freq, amplitude);
    std::vector<int16_t> frame(static_cast<std::size_t>(samples_per_frame(GetParam().in)));
    std::vector<int16_t> out;
    for (int i = 0; i < frames; ++i) {
      gen.fill(frame);
      rs.process(frame, out);
    }
    return out;
  }

  // Skips the filter's start-up transient (first 40 ms) and the last 20 ms.
  std::span<const int16_t> steady(const std::vector<int16_t>& out) const {
    auto const skip = static_cast<std::size_t>(samples_for_ms(GetParam().out, 40));
    auto const tail = static_cast<std::size_t>(samples_for_ms(GetParam().out, 20));
    return std::span<const int16_t>(out).subspan(skip, out.size() - skip - tail);
  }
};

TEST_P(LiveResampler, KeepsLevelAndFrequencyOfA1kHzTone) {
  auto rs = make();
  auto const out = run_sine(rs, 1000.0, 0.5, 50); // 1 s
  auto const in = make_sine(GetParam().in, 1000.0, 0.5, static_cast<std::size_t>(GetParam().in));
  auto const s = steady(out);
  double const gain_db = rms_dbfs(s) - rms_dbfs(in);
  EXPECT_NEAR(gain_db, 0.0, 0.5);
  EXPECT_NEAR(zero_crossing_frequency(s, GetParam().out), 1000.0, 0.5);
  RecordProperty("gain_db_x1000", static_cast<int>(std::lround(gain_db * 1000)));
}

TEST_P(LiveResampler, FrameFedOutputEqualsOneShotOutputAndFitsAnIdealSine) {
  // 997 Hz: not a divisor of any rate, so every frame boundary falls at a different phase.
  auto framed_rs = make();
  auto const framed = run_sine(framed_rs, 997.0, 0.7, 100);

  auto whole_rs = make();
  auto const whole_in = make_sine(GetParam().in, 997.0, 0.7,
                                  static_cast<std::size_t>(100 * samples_per_frame(GetParam().in)));
  std::vector<int16_t> whole;
  whole_rs.process(whole_in, whole);
  ASSERT_EQ(framed.size(), whole.size());
  EXPECT_EQ(framed, whole) << "feeding 20 ms frames must not change a single sample";

  // No click anywhere: after the filter delay the output is an ideal sine within a few LSB, and
  // no sample-to-sample step exceeds the sine's own maximum slope.
  auto const s = steady(framed);
  auto const fit = fit_sine(s, GetParam().out, 997.0);
  EXPECT_NEAR(fit.amplitude, 0.7, 0.7 * 0.06); // within 0.5 dB
  EXPECT_LT(fit.residual_max, 16.0) << "rms " << fit.residual_rms;
  double const slope = testsupport::sine_max_step(997.0, fit.amplitude, GetParam().out);
  EXPECT_LE(testsupport::max_abs_step(s), slope + 16.0);
}

TEST_P(LiveResampler, OutputCountIsExactOverTime) {
  auto rs = make();
  std::vector<int16_t> frame(static_cast<std::size_t>(samples_per_frame(GetParam().in)), 0);
  std::vector<int16_t> out;
  auto const out_frame = static_cast<std::size_t>(samples_per_frame(GetParam().out));
  constexpr int kFrames = 500; // 10 s
  for (int i = 1; i <= kFrames; ++i) {
    rs.process(frame, out);
    // After every frame the total is within one sample of i frames' worth, and never drifts.
    ASSERT_LE(std::abs(static_cast<long>(out.size()) - static_cast<long>(i * out_frame)), 1L)
        << "after frame " << i;
  }
  EXPECT_EQ(out.size(), kFrames * out_frame);
}

TEST_P(LiveResampler, ImpulseDelayIsTheFilterDelayAndUnder20ms) {
  auto rs = make();
  auto const in_frame = static_cast<std::size_t>(samples_per_frame(GetParam().in));
  std::vector<int16_t> frame(in_frame, 0);
  std::vector<int16_t> out;
  for (int i = 0; i < 5; ++i) {
    std::fill(frame.begin(), frame.end(), int16_t{0});
    if (i == 1) {
      frame[0] = 30000; // impulse at input time 20 ms
    }
    rs.process(frame, out);
  }
  auto const peak = std::max_element(
      out.begin(), out.end(), [](int16_t a, int16_t b) { return std::abs(a) < std::abs(b); });
  double const peak_ms = 1000.0 * static_cast<double>(peak - out.begin()) / GetParam().out;
  double const delay_ms = peak_ms - 20.0;
  double const reported_ms = 1000.0 * rs.output_latency_samples() / GetParam().out;
  std::printf("[delay] %d -> %d Hz: impulse peak %.3f ms after input (speexdsp reports %d output "
              "samples = %.3f ms)\n",
              GetParam().in, GetParam().out, delay_ms, rs.output_latency_samples(), reported_ms);
  EXPECT_GE(delay_ms, 0.0);
  EXPECT_LE(delay_ms, 20.0);
  EXPECT_NEAR(delay_ms, reported_ms, 1000.0 * 1.5 / GetParam().out);
}

TEST_P(LiveResampler, ResetForgetsHistory) {
  auto rs = make();
  run_sine(rs, 440.0, 0.9, 10);
  rs.reset();
  auto const after_reset = run_sine(rs, 1000.0, 0.5, 5);
  auto fresh = make();
  auto const from_fresh = run_sine(fresh, 1000.0, 0.5, 5);
  EXPECT_EQ(after_reset, from_fresh);
}

TEST_P(LiveResampler, FrameResamplerCutsExact20msFrames) {
  auto fr = FrameResampler::create({GetParam().in, GetParam().out, 5});
  ASSERT_TRUE(fr.has_value()) << fr.error();
  SineGenerator gen(GetParam().in, 1000.0, 0.5);
  Frame in(GetParam().in);
  Frame out;
  std::vector<int16_t> joined;
  int popped = 0;
  constexpr int kFrames = 250;
  for (int i = 0; i < kFrames; ++i) {
    gen.fill(in.samples());
    fr->push(in);
    while (fr->pop(out)) {
      ++popped;
      ASSERT_EQ(out.sample_rate(), GetParam().out);
      ASSERT_EQ(out.size(), static_cast<std::size_t>(samples_per_frame(GetParam().out)));
      joined.insert(joined.end(), out.samples().begin(), out.samples().end());
    }
  }
  EXPECT_GE(popped, kFrames - 1);
  EXPECT_LE(popped, kFrames);
  // The re-cut frames are the same continuous stream as the plain resampler's output.
  auto rs = make();
  auto const plain = run_sine(rs, 1000.0, 0.5, kFrames);
  ASSERT_LE(joined.size(), plain.size());
  EXPECT_TRUE(std::equal(joined.begin(), joined.end(), plain.begin()));
}

INSTANTIATE_TEST_SUITE_P(LivePairs, LiveResampler,
                         testing::Values(RatePair{48000, 16000}, RatePair{16000, 24000},
                                         RatePair{48000, 24000}, RatePair{24000, 48000},
                                         RatePair{16000, 48000}),
                         pair_name);

TEST(StreamResampler, Attenuates10kHzBy60dBGoing48kTo16k) {
  auto rs = StreamResampler::create({48000, 16000, 5});
  ASSERT_TRUE(rs.has_value());
  SineGenerator gen(48000, 10000.0, 0.9);
  std::vector<int16_t> frame(960);
  std::vector<int16_t> out;
  for (int i = 0; i < 50; ++i) {
    gen.fill(frame);
    rs->process(frame, out);
  }
  auto const in_db = rms_dbfs(make_sine(48000, 10000.0, 0.9, 48000));
  auto const s = std::span<const int16_t>(out).subspan(640, out.size() - 960);
  double const attenuation = in_db - rms_dbfs(s);
  std::printf("[alias] 10 kHz at 48k -> 16k: attenuated by %.1f dB\n", attenuation);
  EXPECT_GE(attenuation, 60.0);
}

TEST(StreamResampler, RejectsBadParameters) {
  EXPECT_FALSE(StreamResampler::create({0, 16000, 5}).has_value());
  EXPECT_FALSE(StreamResampler::create({48000, -1, 5}).has_value());
  EXPECT_FALSE(StreamResampler::create({48000, 16000, 11}).has_value());
  auto r = StreamResampler::create({48000, 16000, -1});
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().find("quality"), std::string::npos);
}

TEST(StreamResampler, EmptyInputProducesNothing) {
  auto rs = StreamResampler::create({48000, 16000, 5});
  ASSERT_TRUE(rs.has_value());
  std::vector<int16_t> out = {1, 2};
  rs->process({}, out);
  EXPECT_EQ(out, (std::vector<int16_t>{1, 2}));
}

TEST(ResampleClip, Converts16kTo48kWithoutShiftOrLevelChange) {
  PcmBuffer in{16000, make_sine(16000, 1000.0, 0.5, 16000)};
  auto out = resample_clip(in, 48000);
  ASSERT_TRUE(out.has_value()) << out.error();
  EXPECT_EQ(out->sample_rate, 48000);
  EXPECT_EQ(out->samples.size(), 48000u);
  // soxr compensates its delay: the middle of the clip matches the ideal 48 kHz sine in phase.
  auto const ideal = make_sine(48000, 1000.0, 0.5, 48000);
  auto const mid = std::span<const int16_t>(out->samples).subspan(4800, 38400);
  auto const ideal_mid = std::span<const int16_t>(ideal).subspan(4800, 38400);
  int worst = 0;
  for (std::size_t i = 0; i < mid.size(); ++i) {
    worst = std::max(worst, std::abs(mid[i] - ideal_mid[i]));
  }
  EXPECT_LE(worst, 8) << "the clip is shifted or distorted";
  EXPECT_NEAR(rms_dbfs(mid) - rms_dbfs(ideal_mid), 0.0, 0.05);
}

TEST(ResampleClip, Converts48kTo16kWithExactLength) {
  PcmBuffer in{48000, make_sine(48000, 440.0, 0.5, 48001)};
  auto out = resample_clip(in, 16000);
  ASSERT_TRUE(out.has_value()) << out.error();
  EXPECT_EQ(out->samples.size(), 16000u); // round(48001 / 3)
  EXPECT_NEAR(
      zero_crossing_frequency(std::span<const int16_t>(out->samples).subspan(800, 14000), 16000),
      440.0, 0.2);
}

TEST(ResampleClip, SameRateIsIdentityAndBadRatesAreErrors) {
  PcmBuffer in{24000, {1, 2, 3}};
  auto same = resample_clip(in, 24000);
  ASSERT_TRUE(same.has_value());
  EXPECT_EQ(same->samples, in.samples);

  EXPECT_FALSE(resample_clip(in, 0).has_value());
  EXPECT_FALSE(resample_clip(PcmBuffer{0, {1, 2}}, 16000).has_value());

  auto empty = resample_clip(PcmBuffer{16000, {}}, 48000);
  ASSERT_TRUE(empty.has_value());
  EXPECT_TRUE(empty->samples.empty());
  EXPECT_EQ(empty->sample_rate, 48000);
}

} // namespace
} // namespace pv::audio
