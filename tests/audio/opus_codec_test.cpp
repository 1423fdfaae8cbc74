// libopus wrappers: parameters validated, every legal packet duration (2.5..120 ms) decodes to
// the right sample count, a tone survives encode/decode, and garbage packets give typed errors
// without crashing or appending anything.

#include "audio/mixer.hpp"
#include "audio/opus_codec.hpp"

#include "support/signal.hpp"

#include <gtest/gtest.h>

#include <opus/opus.h>

#include <random>

namespace pv::audio {
namespace {

using testsupport::make_sine;
using testsupport::SineGenerator;

OpusEncoder make_encoder(int rate = 24000, int complexity = 5) {
  auto enc = OpusEncoder::create({rate, true, complexity, 0});
  EXPECT_TRUE(enc.has_value()) << enc.error().message;
  return std::move(*enc);
}

OpusDecoder make_decoder(int rate = 24000) {
  auto dec = OpusDecoder::create(rate);
  EXPECT_TRUE(dec.has_value()) << dec.error().message;
  return std::move(*dec);
}

TEST(Opus, RejectsBadParameters) {
  auto bad_rate = OpusEncoder::create({44100, true, 5, 0});
  ASSERT_FALSE(bad_rate.has_value());
  EXPECT_EQ(bad_rate.error().code, OPUS_BAD_ARG);
  EXPECT_NE(bad_rate.error().message.find("44100"), std::string::npos);

  auto bad_complexity = OpusEncoder::create({24000, true, 11, 0});
  ASSERT_FALSE(bad_complexity.has_value());
  EXPECT_EQ(bad_complexity.error().code, OPUS_BAD_ARG);

  auto bad_bitrate = OpusEncoder::create({24000, true, 5, 100});
  ASSERT_FALSE(bad_bitrate.has_value());
  EXPECT_EQ(bad_bitrate.error().code, OPUS_BAD_ARG);
  EXPECT_TRUE(
      OpusEncoder::create({24000, true, -1, 24000}).has_value()); // libopus default complexity

  auto bad_decoder = OpusDecoder::create(22050);
  ASSERT_FALSE(bad_decoder.has_value());
  EXPECT_EQ(bad_decoder.error().code, OPUS_BAD_ARG);
}

TEST(Opus, LookaheadIsReportedAtTheEncoderRate) {
  auto enc = make_encoder(24000);
  std::printf("[opus] lookahead at 24 kHz: %d samples\n", enc.lookahead_samples());
  EXPECT_GT(enc.lookahead_samples(), 0);
  EXPECT_LT(enc.lookahead_samples(), samples_for_ms(24000, 10));
  // The same encoder delay in ms at 48 kHz: twice the samples (within rounding).
  auto enc48 = make_encoder(48000);
  EXPECT_NEAR(enc48.lookahead_samples(), 2 * enc.lookahead_samples(), 2);
}

TEST(Opus, EveryLegalDurationDecodesToItsSampleCount) {
  // 2.5, 5, 10, 20, 40, 60, 80, 100, 120 ms at 48 kHz.
  for (int samples : {120, 240, 480, 960, 1920, 2880, 3840, 4800, 5760}) {
    SCOPED_TRACE(samples);
    auto enc = make_encoder(48000);
    auto dec = make_decoder(48000);
    auto const pcm = make_sine(48000, 440.0, 0.5, static_cast<std::size_t>(samples));
    std::vector<uint8_t> packet;
    auto ok = enc.encode(pcm, packet);
    ASSERT_TRUE(ok.has_value()) << ok.error().message;
    ASSERT_FALSE(packet.empty());
    auto n = dec.packet_samples(packet);
    ASSERT_TRUE(n.has_value());
    EXPECT_EQ(*n, samples);
    std::vector<int16_t> out = {42};
    auto decoded = dec.decode(packet, out);
    ASSERT_TRUE(decoded.has_value()) << decoded.error().message;
    EXPECT_EQ(*decoded, samples);
    EXPECT_EQ(out.size(), 1u + static_cast<std::size_t>(samples));
    EXPECT_EQ(out[0], 42) << "decode appends";
  }
}

TEST(Opus, A24kHzPacketDecodesAtOtherRates) {
  auto enc = make_encoder(24000);
  std::vector<uint8_t> packet;
  ASSERT_TRUE(enc.encode(make_sine(24000, 440.0, 0.5, 1920), packet).has_value()); // 80 ms
  EXPECT_EQ(*opus_packet_samples(packet, 48000), 3840);
  EXPECT_EQ(*opus_packet_samples(packet, 16000), 1280);
}

TEST(Opus, ToneSurvivesEncodeDecode) {
  auto enc = make_encoder(24000, 9);
  auto dec = make_decoder(24000);
  SineGenerator gen(24000, 1000.0, 0.5);
  std::vector<int16_t> frame(480);
  std::vector<uint8_t> packet;
  std::vector<int16_t> out;
  std::size_t packet_bytes = 0;
  for (int i = 0; i < 100; ++i) { // 2 s
    gen.fill(frame);
    ASSERT_TRUE(enc.encode(frame, packet).has_value());
    packet_bytes += packet.size();
    ASSERT_TRUE(dec.decode(packet, out).has_value());
  }
  ASSERT_EQ(out.size(), 48000u);
  auto const steady = std::span<const int16_t>(out).subspan(4800);
  EXPECT_NEAR(testsupport::zero_crossing_frequency(steady, 24000), 1000.0, 1.0);
  EXPECT_NEAR(testsupport::tone_level_dbfs(steady, 24000, 1000.0),
              rms_dbfs(make_sine(24000, 1000.0, 0.5, 24000)), 1.0);
  double const kbps = packet_bytes * 8.0 / 2.0 / 1000.0;
  std::printf("[opus] 1 kHz tone, 20 ms VOIP auto bitrate: %.1f kbit/s\n", kbps);
  EXPECT_GT(kbps, 6.0);
  EXPECT_LT(kbps, 128.0);
}

TEST(Opus, EncodeRejectsIllegalFrameSizes) {
  auto enc = make_encoder(24000);
  std::vector<uint8_t> packet = {1, 2, 3};
  for (std::size_t n : {0u, 1u, 100u, 479u, 481u, 3000u}) {
    SCOPED_TRACE(n);
    std::vector<int16_t> pcm(n, 0);
    auto r = enc.encode(pcm, packet);
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().code, OPUS_BAD_ARG);
    EXPECT_TRUE(packet.empty());
  }
  // Still usable afterwards.
  EXPECT_TRUE(enc.encode(std::vector<int16_t>(480, 0), packet).has_value());
}

TEST(Opus, MalformedPacketsAreTypedErrors) {
  auto dec = make_decoder(24000);
  std::vector<int16_t> out = {7};
  struct Case {
    const char* name;
    std::vector<uint8_t> bytes;
  };
  std::vector<Case> const cases = {
      {"empty", {}},
      {"code 3 with zero frames", {0x03, 0x00}},
      {"code 3 claiming 49 frames (over 120 ms)", {0x03, 49}},
      {"code 1 with odd payload (two equal halves impossible)", {0x01, 0xAA, 0xBB, 0xCC}},
      {"code 2 length beyond the packet", {0x02, 0xFB}},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    auto r = dec.decode(c.bytes, out);
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().code, OPUS_INVALID_PACKET) << r.error().message;
    EXPECT_EQ(out.size(), 1u) << "nothing appended on error";
    EXPECT_FALSE(dec.packet_samples(c.bytes).has_value());
  }
}

TEST(Opus, RandomPacketsNeverCrash) {
  auto dec = make_decoder(24000);
  std::mt19937 rng(99);
  int decoded = 0;
  int rejected = 0;
  std::vector<int16_t> out;
  for (int i = 0; i < 5000; ++i) {
    std::vector<uint8_t> packet(1 + rng() % 400);
    for (auto& b : packet) {
      b = static_cast<uint8_t>(rng());
    }
    std::size_t const before = out.size();
    auto r = dec.decode(packet, out);
    if (r) {
      ++decoded;
      EXPECT_LE(*r, opus_max_packet_samples(24000));
      EXPECT_EQ(out.size(), before + static_cast<std::size_t>(*r));
    } else {
      ++rejected;
      EXPECT_EQ(out.size(), before);
    }
    out.clear();
  }
  std::printf("[opus] random packets: %d decoded (Opus is permissive), %d rejected\n", decoded,
              rejected);
  EXPECT_GT(rejected, 0);
}

TEST(Opus, ResetMakesDecodingRepeatable) {
  auto enc = make_encoder(24000);
  std::vector<std::vector<uint8_t>> packets;
  SineGenerator gen(24000, 300.0, 0.5);
  std::vector<int16_t> frame(480);
  for (int i = 0; i < 5; ++i) {
    gen.fill(frame);
    packets.emplace_back();
    ASSERT_TRUE(enc.encode(frame, packets.back()).has_value());
  }
  auto dec = make_decoder(24000);
  std::vector<int16_t> first;
  std::vector<int16_t> second;
  for (const auto& p : packets) {
    ASSERT_TRUE(dec.decode(p, first).has_value());
  }
  dec.reset();
  for (const auto& p : packets) {
    ASSERT_TRUE(dec.decode(p, second).has_value());
  }
  EXPECT_EQ(first, second);
}

TEST(Opus, MovedCodecsKeepWorking) {
  auto enc = make_encoder(24000);
  OpusEncoder moved = std::move(enc);
  std::vector<uint8_t> packet;
  ASSERT_TRUE(moved.encode(std::vector<int16_t>(480, 0), packet).has_value());
  auto dec = make_decoder(24000);
  OpusDecoder moved_dec = std::move(dec);
  std::vector<int16_t> out;
  EXPECT_EQ(*moved_dec.decode(packet, out), 480);
}

} // namespace
} // namespace pv::audio
