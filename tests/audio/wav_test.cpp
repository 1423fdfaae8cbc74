// WAV parsing and writing: a table of corrupted inputs (each must give the right typed error with
// the file name in the message), the accepted variants (odd chunk padding, extensible PCM, stereo,
// chunk order), exhaustive truncation and random mutation (no crash, no out-of-bounds read: run
// this under the Debug build or the ASan build described in docs/PERFORMANCE.md), and the atomic
// write.

#include "audio/wav.hpp"

#include "audio_test_util.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>

namespace pv::audio {
namespace {

using testutil::ScratchDir;

void put16(std::vector<uint8_t>& v, uint16_t x) {
  v.push_back(static_cast<uint8_t>(x & 0xFF));
  v.push_back(static_cast<uint8_t>(x >> 8));
}
void put32(std::vector<uint8_t>& v, uint32_t x) {
  for (int i = 0; i < 4; ++i) {
    v.push_back(static_cast<uint8_t>((x >> (8 * i)) & 0xFF));
  }
}

std::vector<uint8_t> chunk(const char* tag, const std::vector<uint8_t>& body, bool pad = true,
                           uint32_t claimed_size = 0xFFFFFFFF) {
  std::vector<uint8_t> out(tag, tag + 4);
  put32(out, claimed_size == 0xFFFFFFFF ? static_cast<uint32_t>(body.size()) : claimed_size);
  out.insert(out.end(), body.begin(), body.end());
  if (pad && (body.size() & 1) != 0) {
    out.push_back(0);
  }
  return out;
}

std::vector<uint8_t> fmt_body(uint16_t tag, uint16_t channels, uint32_t rate, uint16_t bits) {
  std::vector<uint8_t> b;
  put16(b, tag);
  put16(b, channels);
  put32(b, rate);
  put32(b, rate * channels * bits / 8);
  put16(b, static_cast<uint16_t>(channels * bits / 8));
  put16(b, bits);
  return b;
}

std::vector<uint8_t> extensible_fmt(uint16_t channels, uint32_t rate, uint16_t bits,
                                    uint16_t sub_format) {
  std::vector<uint8_t> b = fmt_body(0xFFFE, channels, rate, bits);
  put16(b, 22);         // cbSize
  put16(b, bits);       // valid bits
  put32(b, 0x4);        // channel mask (front centre)
  put16(b, sub_format); // GUID: format tag, then the fixed tail
  const uint8_t tail[14] = {0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80,
                            0x00, 0x00, 0xAA, 0x00, 0x38, 0x9B, 0x71};
  b.insert(b.end(), tail, tail + 14);
  return b;
}

std::vector<uint8_t> samples_body(const std::vector<int16_t>& s) {
  std::vector<uint8_t> b;
  for (int16_t x : s) {
    put16(b, static_cast<uint16_t>(x));
  }
  return b;
}

std::vector<uint8_t> riff(const std::vector<std::vector<uint8_t>>& chunks) {
  std::vector<uint8_t> body = {'W', 'A', 'V', 'E'};
  for (const auto& c : chunks) {
    body.insert(body.end(), c.begin(), c.end());
  }
  std::vector<uint8_t> out = {'R', 'I', 'F', 'F'};
  put32(out, static_cast<uint32_t>(body.size()));
  out.insert(out.end(), body.begin(), body.end());
  return out;
}

const std::vector<int16_t> kSamples = {0, 1, -1, 32767, -32768, 1234, -4321};

std::vector<uint8_t> valid_mono() {
  return riff({chunk("fmt ", fmt_body(1, 1, 16000, 16)), chunk("data", samples_body(kSamples))});
}

struct BadCase {
  const char* name;
  std::vector<uint8_t> bytes;
  WavErrorKind kind;
  const char* message_part; // the message must say what is wrong
};

std::vector<BadCase> bad_cases() {
  std::vector<uint8_t> data_too_long = valid_mono();
  data_too_long.resize(data_too_long.size() - 4); // data chunk now claims 4 bytes too many

  std::vector<uint8_t> huge_chunk =
      riff({chunk("fmt ", fmt_body(1, 1, 16000, 16)), chunk("data", {}, true, 0xFFFFFFF0u)});

  return {
      {"empty", {}, WavErrorKind::not_riff, "empty"},
      {"truncated RIFF header",
       {'R', 'I', 'F', 'F', 0x10, 0, 0, 0, 'W', 'A'},
       WavErrorKind::truncated,
       "RIFF header"},
      {"not RIFF",
       {'J', 'U', 'N', 'K', 4, 0, 0, 0, 'W', 'A', 'V', 'E', 0, 0, 0, 0},
       WavErrorKind::not_riff,
       "RIFF"},
      {"RIFF but not WAVE",
       [] {
         auto v = riff({chunk("fmt ", fmt_body(1, 1, 16000, 16))});
         std::copy_n("AVI ", 4, v.begin() + 8);
         return v;
       }(),
       WavErrorKind::not_riff, "WAVE"},
      {"data chunk longer than the file", data_too_long, WavErrorKind::truncated, "'data' claims"},
      {"chunk size near 4 GiB", huge_chunk, WavErrorKind::truncated, "'data' claims"},
      {"fmt missing", riff({chunk("data", samples_body(kSamples))}), WavErrorKind::missing_format,
       "fmt"},
      {"data missing", riff({chunk("fmt ", fmt_body(1, 1, 16000, 16))}), WavErrorKind::missing_data,
       "data"},
      {"fmt chunk too short",
       riff({chunk("fmt ", {1, 0, 1, 0, 0x80, 0x3E, 0, 0}), chunk("data", samples_body(kSamples))}),
       WavErrorKind::truncated, "fmt chunk of 8 bytes"},
      {"24-bit", riff({chunk("fmt ", fmt_body(1, 1, 16000, 24)), chunk("data", {0, 0, 0})}),
       WavErrorKind::unsupported, "24-bit"},
      {"float", riff({chunk("fmt ", fmt_body(3, 1, 16000, 32)), chunk("data", {0, 0, 0, 0})}),
       WavErrorKind::unsupported, "float"},
      {"3 channels",
       riff({chunk("fmt ", fmt_body(1, 3, 16000, 16)), chunk("data", {0, 0, 0, 0, 0, 0})}),
       WavErrorKind::unsupported, "3 channels"},
      {"extensible float",
       riff(
           {chunk("fmt ", extensible_fmt(1, 16000, 16, 3)), chunk("data", samples_body(kSamples))}),
       WavErrorKind::unsupported, "sub-format 3"},
      {"extensible fmt cut short",
       riff({chunk("fmt ",
                   [] {
                     auto b = extensible_fmt(1, 16000, 16, 1);
                     b.resize(30);
                     return b;
                   }()),
             chunk("data", samples_body(kSamples))}),
       WavErrorKind::truncated, "EXTENSIBLE"},
      {"rate 4000 Hz",
       riff({chunk("fmt ", fmt_body(1, 1, 4000, 16)), chunk("data", samples_body(kSamples))}),
       WavErrorKind::unsupported, "4000 Hz"},
      {"odd data length",
       riff({chunk("fmt ", fmt_body(1, 1, 16000, 16)), chunk("data", {1, 2, 3})}),
       WavErrorKind::truncated, "whole number"},
      {"bad block align",
       riff({chunk("fmt ",
                   [] {
                     auto b = fmt_body(1, 1, 16000, 16);
                     b[12] = 4; // block align 4 for mono 16-bit
                     return b;
                   }()),
             chunk("data", samples_body(kSamples))}),
       WavErrorKind::unsupported, "block align"},
  };
}

TEST(Wav, CorruptedInputsGiveTypedErrorsNamingTheFile) {
  for (const auto& c : bad_cases()) {
    SCOPED_TRACE(c.name);
    auto r = parse_wav(c.bytes, "clips/bad.wav");
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().kind, c.kind) << r.error().message;
    EXPECT_NE(r.error().message.find("clips/bad.wav"), std::string::npos) << r.error().message;
    EXPECT_NE(r.error().message.find(c.message_part), std::string::npos) << r.error().message;
  }
}

TEST(Wav, ParsesMonoPcmExactly) {
  auto r = parse_wav(valid_mono());
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(r->sample_rate, 16000);
  EXPECT_EQ(r->samples, kSamples);
}

TEST(Wav, SkipsOddSizedChunksWithTheirPadByte) {
  // A 3-byte LIST chunk is followed by a pad byte; the next chunk starts after it.
  auto bytes = riff({chunk("LIST", {'a', 'b', 'c'}), chunk("fmt ", fmt_body(1, 1, 16000, 16)),
                     chunk("junk", {9}), chunk("data", samples_body(kSamples))});
  auto r = parse_wav(bytes);
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(r->samples, kSamples);
}

TEST(Wav, OddChunkAtEndWithoutPadByteIsAccepted) {
  auto bytes = riff({chunk("fmt ", fmt_body(1, 1, 16000, 16)),
                     chunk("data", samples_body(kSamples)), chunk("note", {'x'}, /*pad=*/false)});
  auto r = parse_wav(bytes);
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(r->samples, kSamples);
}

TEST(Wav, AcceptsExtensiblePcm) {
  auto bytes =
      riff({chunk("fmt ", extensible_fmt(1, 48000, 16, 1)), chunk("data", samples_body(kSamples))});
  auto r = parse_wav(bytes);
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(r->sample_rate, 48000);
  EXPECT_EQ(r->samples, kSamples);
}

TEST(Wav, AveragesStereoToMono) {
  std::vector<int16_t> interleaved = {100, 300, -32768, -32768, 32767, 32767, 32767, -32768, -5, 2};
  auto bytes =
      riff({chunk("fmt ", fmt_body(1, 2, 24000, 16)), chunk("data", samples_body(interleaved))});
  auto r = parse_wav(bytes);
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(r->sample_rate, 24000);
  std::vector<int16_t> const expected = {200, -32768, 32767, -1, -2}; // floor((l + r) / 2)
  EXPECT_EQ(r->samples, expected);
}

TEST(Wav, AcceptsDataBeforeFmtAndIgnoresRiffSize) {
  auto bytes =
      riff({chunk("data", samples_body(kSamples)), chunk("fmt ", fmt_body(1, 1, 8000, 16))});
  bytes[4] = bytes[5] = bytes[6] = bytes[7] = 0xFF; // streaming writers leave the size unknown
  auto r = parse_wav(bytes);
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(r->sample_rate, 8000);
  EXPECT_EQ(r->samples, kSamples);
}

TEST(Wav, EncodeParseRoundTrip) {
  PcmBuffer pcm;
  pcm.sample_rate = 48000;
  std::mt19937 rng(7);
  for (int i = 0; i < 4801; ++i) {
    pcm.samples.push_back(static_cast<int16_t>(rng()));
  }
  auto bytes = encode_wav(pcm);
  EXPECT_EQ(bytes.size(), 44u + 2 * pcm.samples.size());
  auto r = parse_wav(bytes);
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(r->sample_rate, pcm.sample_rate);
  EXPECT_EQ(r->samples, pcm.samples);
}

TEST(Wav, EveryTruncationIsATypedErrorNeverACrash) {
  auto const full = riff({chunk("LIST", {'a', 'b', 'c'}), chunk("fmt ", fmt_body(1, 2, 16000, 16)),
                          chunk("data", samples_body({1, 2, 3, 4, 5, 6, 7, 8}))});
  ASSERT_TRUE(parse_wav(full).has_value());
  for (std::size_t len = 0; len < full.size(); ++len) {
    std::vector<uint8_t> prefix(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(len));
    auto r = parse_wav(prefix, "cut.wav");
    EXPECT_FALSE(r.has_value()) << "prefix of " << len << " bytes parsed";
  }
}

TEST(Wav, RandomMutationsNeverCrash) {
  auto const base = riff({chunk("fmt ", extensible_fmt(2, 16000, 16, 1)),
                          chunk("data", samples_body({1, 2, 3, 4, 5, 6, 7, 8}))});
  std::mt19937 rng(1234);
  int accepted = 0;
  for (int iter = 0; iter < 20000; ++iter) {
    auto bytes = base;
    int const flips = 1 + static_cast<int>(rng() % 4);
    for (int f = 0; f < flips; ++f) {
      bytes[rng() % bytes.size()] = static_cast<uint8_t>(rng());
    }
    if (rng() % 4 == 0) {
      bytes.resize(rng() % bytes.size());
    }
    auto r = parse_wav(bytes);
    if (r) {
      ++accepted;
      EXPECT_GE(r->sample_rate, 8000);
      EXPECT_LE(r->sample_rate, 192000);
      EXPECT_LE(r->samples.size() * 2, bytes.size());
    } else {
      EXPECT_FALSE(r.error().message.empty());
    }
  }
  // Mutations that only touch sample bytes or unused fields keep the file valid.
  EXPECT_GT(accepted, 0);
}

TEST(Wav, WriteThenReadFile) {
  ScratchDir dir;
  PcmBuffer pcm{16000, {1, -2, 3, -4, 32767, -32768}};
  auto path = dir / "clip.wav";
  ASSERT_TRUE(write_wav(path, pcm).has_value());
  auto r = read_wav(path);
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(r->samples, pcm.samples);
  EXPECT_EQ(r->sample_rate, 16000);
  // Only the clip is left behind (the temporary file was renamed into place).
  int files = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir.path())) {
    ++files;
  }
  EXPECT_EQ(files, 1);
}

TEST(Wav, WriteReplacesAnExistingFileWhole) {
  ScratchDir dir;
  auto path = dir / "clip.wav";
  PcmBuffer long_clip{16000, std::vector<int16_t>(16000, 7)};
  PcmBuffer short_clip{8000, {1, 2, 3}};
  ASSERT_TRUE(write_wav(path, long_clip).has_value());
  ASSERT_TRUE(write_wav(path, short_clip).has_value());
  EXPECT_EQ(std::filesystem::file_size(path), 44u + 6u);
  auto r = read_wav(path);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->samples, short_clip.samples);
}

TEST(Wav, UnwritablePathGivesIoErrorAndLeavesNothing) {
  ScratchDir dir;
  PcmBuffer pcm{16000, {1, 2, 3}};

  auto missing_dir = dir / "no-such-dir" / "clip.wav";
  auto r1 = write_wav(missing_dir, pcm);
  ASSERT_FALSE(r1.has_value());
  EXPECT_EQ(r1.error().kind, WavErrorKind::io);
  EXPECT_NE(r1.error().message.find("clip.wav"), std::string::npos);
  EXPECT_FALSE(std::filesystem::exists(dir / "no-such-dir"));

  // The temporary file can be written but the final rename fails (the target is a non-empty
  // directory): the temporary file must be removed.
  auto occupied = dir / "occupied";
  std::filesystem::create_directories(occupied / "inside");
  auto r2 = write_wav(occupied, pcm);
  ASSERT_FALSE(r2.has_value());
  EXPECT_EQ(r2.error().kind, WavErrorKind::io);
  EXPECT_NE(r2.error().message.find("rename"), std::string::npos) << r2.error().message;
  std::vector<std::string> names;
  for (const auto& e : std::filesystem::directory_iterator(dir.path())) {
    names.push_back(e.path().filename().string());
  }
  EXPECT_EQ(names, std::vector<std::string>{"occupied"});
}

TEST(Wav, ReadMissingFileIsIoError) {
  auto r = read_wav("/nonexistent/dir/x.wav");
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().kind, WavErrorKind::io);
  EXPECT_NE(r.error().message.find("/nonexistent/dir/x.wav"), std::string::npos);
}

} // namespace
} // namespace pv::audio
