// Frame and PcmBuffer basics.

#include "audio/frame.hpp"

#include <gtest/gtest.h>

namespace pv::audio {
namespace {

TEST(Frame, DefaultRateFrameIs20msOfSilence) {
  for (int rate : {kSpeechRateHz, kPersonaPlexRateHz, kRoomRateHz}) {
    Frame f(rate);
    EXPECT_EQ(f.sample_rate(), rate);
    EXPECT_EQ(f.size(), static_cast<std::size_t>(rate / 50));
    EXPECT_EQ(f.duration_us(), 20000);
    EXPECT_TRUE(
        std::all_of(f.samples().begin(), f.samples().end(), [](int16_t s) { return s == 0; }));
  }
  EXPECT_EQ(kMaxFrameSamples, 960u);
}

TEST(Frame, ResizeZeroesNewSamplesOnly) {
  Frame f(kRoomRateHz, 4);
  auto s = f.samples();
  s[0] = 1;
  s[3] = 4;
  f.resize(2);
  f.resize(6);
  EXPECT_EQ(f.samples()[0], 1);
  EXPECT_EQ(f.samples()[3], 0) << "a sample beyond the shrunk length is not resurrected";
  EXPECT_EQ(f.size(), 6u);
  f.samples()[5] = 9;
  f.clear_to_silence();
  EXPECT_EQ(f.samples()[5], 0);
  EXPECT_EQ(f.size(), 6u);
}

TEST(Frame, CopiesByValue) {
  Frame a(kSpeechRateHz);
  a.samples()[0] = 123;
  Frame b = a;
  b.samples()[0] = 7;
  EXPECT_EQ(a.samples()[0], 123);
  EXPECT_EQ(b.samples()[0], 7);
}

TEST(PcmBuffer, Duration) {
  PcmBuffer p{16000, std::vector<int16_t>(24000)};
  EXPECT_EQ(p.duration_ms(), 1500);
  EXPECT_EQ(PcmBuffer{}.duration_ms(), 0);
  EXPECT_EQ(samples_for_ms(44100, 20), 882);
  EXPECT_EQ(samples_per_frame(24000), 480);
}

} // namespace
} // namespace pv::audio
