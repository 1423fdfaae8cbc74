// ServerAudioDecoder on the server's own bytes (shared/testdata sphn streams, protocol §8): pages
// fed one message at a time come out as continuous 48 kHz audio; junk, bad CRCs and a missing
// BOS are typed errors.

#include "personaplex/server_audio.hpp"

#include "support/signal.hpp"

#include <fstream>
#include <iterator>

#include <gtest/gtest.h>

namespace pv::personaplex {
namespace {

std::vector<uint8_t> read_file(const std::string& name) {
  std::ifstream in(std::string(PV_TESTDATA_DIR) + "/personaplex/" + name, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Cuts an Ogg stream into its pages (what the server sends, one per message).
std::vector<std::vector<uint8_t>> pages_of(const std::vector<uint8_t>& stream) {
  std::vector<std::vector<uint8_t>> pages;
  std::size_t at = 0;
  while (at + 27 <= stream.size()) {
    const std::size_t segments = stream[at + 26];
    std::size_t body = 0;
    for (std::size_t i = 0; i < segments; ++i) {
      body += stream[at + 27 + i];
    }
    const std::size_t size = 27 + segments + body;
    pages.emplace_back(stream.begin() + static_cast<std::ptrdiff_t>(at),
                       stream.begin() + static_cast<std::ptrdiff_t>(at + size));
    at += size;
  }
  return pages;
}

TEST(ServerAudioDecoder, ServerPagesBecomeContinuous48kHzAudio) {
  const auto pages = pages_of(read_file("sine50.opus"));
  ASSERT_EQ(pages.size(), 52u); // OpusHead, OpusTags, 50 x 80 ms
  auto decoder = ServerAudioDecoder::create(-50.0);
  ASSERT_TRUE(decoder.has_value());
  audio::PlayoutBuffer playout(audio::PlayoutBufferParams{48000, 5000, 0});
  std::size_t total_24k = 0;
  for (std::size_t i = 0; i < pages.size(); ++i) {
    auto decoded = decoder->feed(pages[i], playout);
    ASSERT_TRUE(decoded.has_value()) << i << ": " << decoded.error().message;
    if (i < 2) {
      EXPECT_EQ(decoded->samples_24k, 0u) << "header page " << i;
    } else {
      EXPECT_EQ(decoded->samples_24k, 1920u) << i;
      EXPECT_TRUE(decoded->audible) << i;
    }
    total_24k += decoded->samples_24k;
  }
  EXPECT_EQ(total_24k, 50u * 1920u);
  EXPECT_EQ(decoder->stats().audio_packets, 50);
  std::vector<int16_t> out(playout.buffered_samples());
  ASSERT_EQ(out.size(), 2 * total_24k); // 24 kHz -> 48 kHz, nothing held back or lost
  playout.pull(out);
  // A 440 Hz tone across 50 packet boundaries: right pitch, and no step larger than the tone
  // itself can make (a click at a packet or resampler boundary would be).
  const auto middle = std::span<const int16_t>(out).subspan(48000, 96000);
  EXPECT_NEAR(testsupport::peak_frequency(middle, 48000, 300, 600), 440.0, 1.0);
  const double amplitude = testsupport::fit_sine(middle, 48000, 440.0).amplitude;
  EXPECT_GT(amplitude, 0.3);
  EXPECT_LT(testsupport::max_abs_step(middle),
            1.25 * testsupport::sine_max_step(440.0, amplitude, 48000));
}

TEST(ServerAudioDecoder, JunkBadCrcAndMissingBosAreTypedErrors) {
  const auto pages = pages_of(read_file("sine.opus"));
  ASSERT_GE(pages.size(), 3u);
  audio::PlayoutBuffer playout(audio::PlayoutBufferParams{48000, 1000, 0});
  {
    auto decoder = ServerAudioDecoder::create(-50.0);
    ASSERT_TRUE(decoder);
    ASSERT_TRUE(decoder->feed(pages[0], playout));
    // Junk shorter than a page header cannot be judged yet; the next message shows it is junk.
    const std::vector<uint8_t> junk = {'n', 'o', 't', ' ', 'o', 'g', 'g', 0x00, 0xff, 0x13};
    ASSERT_TRUE(decoder->feed(junk, playout));
    auto result = decoder->feed(pages[1], playout);
    ASSERT_FALSE(result.has_value());
    EXPECT_EQ(result.error().kind, audio::OggErrorKind::no_capture_pattern);
    EXPECT_NE(result.error().message.find("10 bytes outside any Ogg page"), std::string::npos)
        << result.error().message;
    // Sticky: a good page after the error does not revive the stream.
    EXPECT_FALSE(decoder->feed(pages[2], playout).has_value());
  }
  {
    auto decoder = ServerAudioDecoder::create(-50.0);
    ASSERT_TRUE(decoder);
    ASSERT_TRUE(decoder->feed(pages[0], playout));
    std::vector<uint8_t> garbage(100);
    for (std::size_t i = 0; i < garbage.size(); ++i) {
      garbage[i] = static_cast<uint8_t>((i * 37 + 11) % 251); // no "OggS" in it
    }
    auto result = decoder->feed(garbage, playout);
    ASSERT_FALSE(result.has_value());
    EXPECT_EQ(result.error().kind, audio::OggErrorKind::no_capture_pattern);
  }
  {
    auto decoder = ServerAudioDecoder::create(-50.0);
    ASSERT_TRUE(decoder);
    ASSERT_TRUE(decoder->feed(pages[0], playout));
    ASSERT_TRUE(decoder->feed(pages[1], playout));
    auto corrupted = pages[2];
    corrupted[22] ^= 0x5a; // the CRC field
    auto result = decoder->feed(corrupted, playout);
    ASSERT_FALSE(result.has_value());
    EXPECT_EQ(result.error().kind, audio::OggErrorKind::crc_mismatch);
  }
  {
    auto decoder = ServerAudioDecoder::create(-50.0);
    ASSERT_TRUE(decoder);
    auto result = decoder->feed(pages[2], playout); // an audio page first: no BOS
    ASSERT_FALSE(result.has_value());
    EXPECT_EQ(result.error().kind, audio::OggErrorKind::missing_bos);
  }
  EXPECT_EQ(playout.buffered_samples(), 0u); // nothing from a broken stream was played
}

} // namespace
} // namespace pv::personaplex
