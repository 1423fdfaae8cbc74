// Saturating mix and level measurement.

#include "audio/mixer.hpp"

#include "support/signal.hpp"

#include <gtest/gtest.h>

namespace pv::audio {
namespace {

TEST(MixInto, SaturatesAtBothRails) {
  std::vector<int16_t> acc = {32000, -32000, 100, 32767, -32768, 0};
  std::vector<int16_t> const src = {1000, -1000, -50, 1, -1, -32768};
  mix_into(acc, src);
  EXPECT_EQ(acc, (std::vector<int16_t>{32767, -32768, 50, 32767, -32768, -32768}));
}

TEST(MixInto, AppliesGainWithRounding) {
  std::vector<int16_t> acc = {0, 0, 0, 10};
  std::vector<int16_t> const src = {3, -3, 20000, 32767};
  mix_into(acc, src, 0.5f);
  EXPECT_EQ(acc, (std::vector<int16_t>{2, -2, 10000, 16394})); // round-half-even: 1.5 -> 2
  std::vector<int16_t> loud = {0};
  mix_into(loud, std::vector<int16_t>{20000}, 2.0f);
  EXPECT_EQ(loud[0], 32767);
}

TEST(Mixer, SumsInWideningArithmeticAndSaturatesOnce) {
  Mixer mixer;
  mixer.begin(3);
  std::vector<int16_t> const a = {30000, -30000, 5};
  std::vector<int16_t> const b = {30000, -30000, 7};
  mixer.add(a);
  mixer.add(b);
  EXPECT_EQ(std::vector<int16_t>(mixer.result().begin(), mixer.result().end()),
            (std::vector<int16_t>{32767, -32768, 12}));
  // Removing b again restores a exactly: the intermediate clip was not baked in.
  mixer.add(b, -1.0f);
  EXPECT_EQ(std::vector<int16_t>(mixer.result().begin(), mixer.result().end()), a);
}

TEST(Mixer, BeginStartsFromSilence) {
  Mixer mixer(16000);
  EXPECT_EQ(mixer.sample_rate(), 16000);
  mixer.begin(4);
  mixer.add(std::vector<int16_t>{1, 2, 3, 4});
  mixer.begin(2);
  EXPECT_EQ(std::vector<int16_t>(mixer.result().begin(), mixer.result().end()),
            (std::vector<int16_t>{0, 0}));
}

TEST(Levels, RmsOfKnownSignals) {
  auto const full_sine = testsupport::make_sine(48000, 1000.0, 1.0, 48000);
  EXPECT_NEAR(rms_dbfs(full_sine), -3.01, 0.01);
  auto const half_sine = testsupport::make_sine(48000, 1000.0, 0.5, 48000);
  EXPECT_NEAR(rms_dbfs(half_sine), -9.03, 0.01);
  std::vector<int16_t> square(1000);
  for (std::size_t i = 0; i < square.size(); ++i) {
    square[i] = (i / 10) % 2 == 0 ? int16_t{32767} : int16_t{-32767};
  }
  EXPECT_NEAR(rms_dbfs(square), 0.0, 0.001); // full-scale square = 0 dBFS
  EXPECT_NEAR(rms_dbfs(std::vector<int16_t>{0, 0, 0, 2}), -90.31, 0.01); // rms 1 LSB
  EXPECT_NEAR(rms_dbfs(std::vector<int16_t>(100, 3277)), -20.0, 0.01);
  EXPECT_EQ(rms_dbfs(std::vector<int16_t>(480, 0)), -120.0);
  EXPECT_EQ(rms_dbfs({}), -120.0);
}

TEST(Levels, PeakAbs) {
  EXPECT_EQ(peak_abs(std::vector<int16_t>{1, -5, 3}), 5);
  EXPECT_EQ(peak_abs(std::vector<int16_t>{32767, -32768}), 32768);
  EXPECT_EQ(peak_abs({}), 0);
  EXPECT_EQ(peak_abs(testsupport::make_sine(48000, 1000.0, 0.5, 480)), 16384);
}

} // namespace
} // namespace pv::audio
