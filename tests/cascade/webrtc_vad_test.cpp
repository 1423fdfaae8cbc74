#include "audio/webrtc_vad.hpp"

#include "cascade_test_util.hpp"

#include <gtest/gtest.h>

namespace pv::audio {
namespace {

using cascade::testing::speak;
using cascade::testing::trimmed;

TEST(WebRtcVad, RejectsBadModeAndRate) {
  auto bad_mode = WebRtcVad::create({4, 16000});
  ASSERT_FALSE(bad_mode);
  EXPECT_EQ(bad_mode.error().kind, VadErrorKind::invalid_params);
  EXPECT_NE(bad_mode.error().message.find("0..3"), std::string::npos);
  auto negative = WebRtcVad::create({-1, 16000});
  ASSERT_FALSE(negative);
  auto bad_rate = WebRtcVad::create({2, 11025});
  ASSERT_FALSE(bad_rate);
  EXPECT_EQ(bad_rate.error().kind, VadErrorKind::invalid_params);
}

TEST(WebRtcVad, AcceptsOnly10_20_30MsFrames) {
  auto vad = WebRtcVad::create({2, 16000});
  ASSERT_TRUE(vad);
  std::vector<int16_t> buf(480, 0);
  for (std::size_t n : {160U, 320U, 480U}) {
    auto r = vad->is_speech(std::span<const int16_t>(buf.data(), n));
    ASSERT_TRUE(r) << n;
    EXPECT_FALSE(*r) << "digital silence is not speech";
  }
  for (std::size_t n : {0U, 1U, 159U, 321U, 400U}) {
    auto r = vad->is_speech(std::span<const int16_t>(buf.data(), n));
    ASSERT_FALSE(r) << n;
    EXPECT_EQ(r.error().kind, VadErrorKind::invalid_frame);
  }
  EXPECT_TRUE(WebRtcVad::valid_frame_length(48000, 960));
  EXPECT_FALSE(WebRtcVad::valid_frame_length(48000, 320));
}

// Fraction of 20 ms frames flagged as speech.
double speech_fraction(WebRtcVad& vad, const std::vector<int16_t>& pcm) {
  int speech = 0;
  int frames = 0;
  for (std::size_t i = 0; i + 320 <= pcm.size(); i += 320) {
    auto r = vad.is_speech(std::span<const int16_t>(pcm.data() + i, 320));
    EXPECT_TRUE(r);
    speech += (r && *r) ? 1 : 0;
    ++frames;
  }
  return frames == 0 ? 0.0 : static_cast<double>(speech) / frames;
}

TEST(WebRtcVad, FlagsSpeechAndNotSilenceInEveryMode) {
  const auto speech = trimmed(speak("The quick brown fox jumps over the lazy dog.").samples);
  ASSERT_GT(speech.size(), 16000U);
  const std::vector<int16_t> silence(32000, 0);
  for (int mode = 0; mode <= 3; ++mode) {
    auto vad = WebRtcVad::create({mode, 16000});
    ASSERT_TRUE(vad);
    EXPECT_EQ(vad->mode(), mode);
    EXPECT_EQ(speech_fraction(*vad, silence), 0.0) << "mode " << mode;
    EXPECT_GT(speech_fraction(*vad, speech), 0.6) << "mode " << mode;
    // After speech the detector's hangover flags a few frames, never the whole silence.
    const double after = speech_fraction(*vad, silence);
    EXPECT_LE(after, 0.1) << "mode " << mode;
  }
}

TEST(WebRtcVad, SetModeValidatesAndMoveKeepsTheDetector) {
  auto vad = WebRtcVad::create({0, 16000});
  ASSERT_TRUE(vad);
  EXPECT_FALSE(vad->set_mode(7));
  EXPECT_EQ(vad->mode(), 0);
  ASSERT_TRUE(vad->set_mode(3));
  EXPECT_EQ(vad->mode(), 3);
  WebRtcVad moved = std::move(*vad);
  EXPECT_EQ(moved.mode(), 3);
  const auto speech = trimmed(speak("Hello there, how are you today?").samples);
  EXPECT_GT(speech_fraction(moved, speech), 0.5);
  moved.reset();
  EXPECT_EQ(moved.mode(), 3);
}

} // namespace
} // namespace pv::audio
