// Interop of our client framing with the reference tools from Debian's opus-tools: a few seconds
// of a 24 kHz sine through our encoder and writer must pass `opusinfo` without errors or warnings
// and decode with `opusdec --rate 24000` to the expected duration and tone. The tools are a
// declared dependency (scripts/install-deps.sh): if one is missing the test fails, it never skips.

#include "audio/ogg_opus.hpp"
#include "audio/wav.hpp"

#include "audio_test_util.hpp"
#include "support/signal.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>

namespace pv::audio {
namespace {

using testutil::ScratchDir;

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

struct WrittenStream {
  int packets = 0;
  uint16_t pre_skip_48k = 0;
};

// 3 s of a 24 kHz, 0.5-amplitude 523.25 Hz sine as 20 ms packets, one page each, EOS at the end.
WrittenStream write_sine_stream(const std::filesystem::path& path) {
  auto encoder = OpusEncoder::create({24000, true, 5, 0});
  EXPECT_TRUE(encoder.has_value());
  WrittenStream info;
  info.pre_skip_48k = opus_pre_skip_48k(encoder->lookahead_samples(), 24000);
  OggOpusWriter writer(standard_client_framing(0x5EED, info.pre_skip_48k));
  std::vector<uint8_t> file = writer.head_page();
  auto const tags = writer.tags_page();
  file.insert(file.end(), tags.begin(), tags.end());
  testsupport::SineGenerator gen(24000, 523.25, 0.5);
  std::vector<int16_t> frame(480);
  std::vector<uint8_t> packet;
  std::vector<uint8_t> page;
  info.packets = 150;
  for (int i = 0; i < info.packets; ++i) {
    gen.fill(frame);
    EXPECT_TRUE(encoder->encode(frame, packet).has_value());
    writer.packet_page(packet, 480, page, i == info.packets - 1);
    file.insert(file.end(), page.begin(), page.end());
  }
  testutil::write_file(path, file);
  return info;
}

std::string require_tool(const char* name) {
  std::string const path = testutil::find_tool(name);
  EXPECT_FALSE(path.empty()) << name
                             << " is not installed: it comes from the Debian package opus-tools "
                                "(run scripts/install-deps.sh)";
  return path;
}

TEST(OggInterop, OpusinfoAcceptsOurClientStream) {
  std::string const opusinfo = require_tool("opusinfo");
  ASSERT_FALSE(opusinfo.empty());
  ScratchDir dir;
  auto const file = dir / "client.opus";
  auto const info = write_sine_stream(file);

  auto const r = testutil::run_command(opusinfo + " " + file.string());
  std::printf("%s", r.output.c_str());
  EXPECT_EQ(r.exit_code, 0) << r.output;
  std::string const out = lower(r.output);
  EXPECT_EQ(out.find("warning"), std::string::npos) << r.output;
  EXPECT_EQ(out.find("error"), std::string::npos) << r.output;
  EXPECT_NE(out.find("pre-skip: " + std::to_string(info.pre_skip_48k)), std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("podium-voices"), std::string::npos) << r.output;
}

// Negative control: the same check flags the sphn server framing (24 kHz granules, pre-skip 3840),
// which the protocol document (§3.2) reports opusinfo rejects. So a framing bug in our client
// stream would not pass unnoticed.
TEST(OggInterop, OpusinfoFlagsTheNonStandardServerFraming) {
  std::string const opusinfo = require_tool("opusinfo");
  ASSERT_FALSE(opusinfo.empty());
  auto const r = testutil::run_command(opusinfo + " " +
                                       testutil::testdata("personaplex/sine50.opus").string());
  std::string const out = lower(r.output);
  EXPECT_NE(out.find("warning"), std::string::npos) << r.output;
  EXPECT_NE(out.find("granule"), std::string::npos) << r.output;
}

TEST(OggInterop, OpusdecDecodesOurClientStream) {
  std::string const opusdec = require_tool("opusdec");
  ASSERT_FALSE(opusdec.empty());
  ScratchDir dir;
  auto const file = dir / "client.opus";
  auto const wav = dir / "decoded.wav";
  auto const info = write_sine_stream(file);

  auto const r = testutil::run_command(opusdec + " --quiet --rate 24000 " + file.string() + " " +
                                       wav.string());
  ASSERT_EQ(r.exit_code, 0) << r.output;
  auto decoded = read_wav(wav);
  ASSERT_TRUE(decoded.has_value()) << decoded.error().message;
  EXPECT_EQ(decoded->sample_rate, 24000);
  // opusdec trims the pre-skip: (granule - pre-skip) at 48 kHz, halved for 24 kHz.
  long const expected = (info.packets * 960L - info.pre_skip_48k) / 2;
  EXPECT_NEAR(static_cast<double>(decoded->samples.size()), static_cast<double>(expected), 480.0)
      << "within one 20 ms frame";
  auto const steady = std::span<const int16_t>(decoded->samples).subspan(2400, 48000);
  EXPECT_NEAR(testsupport::zero_crossing_frequency(steady, 24000), 523.25, 1.0);
  EXPECT_NEAR(testsupport::peak_frequency(steady, 24000, 100.0, 4000.0), 523.25, 1.0);
}

} // namespace
} // namespace pv::audio
