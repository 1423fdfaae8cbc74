// Ogg Opus reader: the PersonaPlex sample streams decode to the right number of samples and the
// right tone; any byte split of the input (every boundary, one byte at a time, all at once) gives
// sample-identical output; junk is skipped up to the resync limit; the strict rules of the real
// server (CRC, BOS, duplicate BOS, continued flag) give typed, sticky errors; garbage never
// crashes; and our client writer's output round-trips.

#include "audio/mixer.hpp"
#include "audio/ogg_opus.hpp"

#include "audio_test_util.hpp"
#include "support/signal.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <random>

namespace pv::audio {
namespace {

using testutil::read_file;
using testutil::testdata;

std::vector<uint8_t> sample_stream(const std::string& name) {
  return read_file(testdata("personaplex/" + name));
}

// Audio frames in a sample stream, from its hex dump (one "frame N:" line per audio page).
int frames_in_dump(const std::string& name) {
  std::ifstream in(testdata("personaplex/" + name));
  std::string line;
  int frames = 0;
  while (std::getline(in, line)) {
    if (line.rfind("frame ", 0) == 0) {
      ++frames;
    }
  }
  return frames;
}

// Splits a well-formed stream into its pages (test-side, independent of the reader).
std::vector<std::vector<uint8_t>> split_pages(const std::vector<uint8_t>& stream) {
  std::vector<std::vector<uint8_t>> pages;
  std::size_t pos = 0;
  while (pos + 27 <= stream.size()) {
    std::size_t const nseg = stream[pos + 26];
    std::size_t body = 0;
    for (std::size_t i = 0; i < nseg; ++i) {
      body += stream[pos + 27 + i];
    }
    std::size_t const len = 27 + nseg + body;
    pages.emplace_back(stream.begin() + static_cast<std::ptrdiff_t>(pos),
                       stream.begin() + static_cast<std::ptrdiff_t>(pos + len));
    pos += len;
  }
  EXPECT_EQ(pos, stream.size());
  return pages;
}

std::vector<uint8_t> join(const std::vector<std::vector<uint8_t>>& pages) {
  std::vector<uint8_t> out;
  for (const auto& p : pages) {
    out.insert(out.end(), p.begin(), p.end());
  }
  return out;
}

void fix_crc(std::vector<uint8_t>& page) {
  std::fill(page.begin() + 22, page.begin() + 26, uint8_t{0});
  uint32_t const crc = ogg_crc32(page);
  for (int i = 0; i < 4; ++i) {
    page[22 + static_cast<std::size_t>(i)] = static_cast<uint8_t>((crc >> (8 * i)) & 0xFF);
  }
}

// A hand-made page (for shapes our writer never produces).
std::vector<uint8_t> make_page(uint8_t flags, uint32_t serial, uint32_t seq,
                               const std::vector<uint8_t>& lacing,
                               const std::vector<uint8_t>& body) {
  std::vector<uint8_t> page = {'O', 'g', 'g', 'S', 0, flags};
  for (int i = 0; i < 8; ++i) {
    page.push_back(0); // granule
  }
  for (uint32_t v : {serial, seq, 0u}) {
    for (int i = 0; i < 4; ++i) {
      page.push_back(static_cast<uint8_t>((v >> (8 * i)) & 0xFF));
    }
  }
  page.push_back(static_cast<uint8_t>(lacing.size()));
  page.insert(page.end(), lacing.begin(), lacing.end());
  page.insert(page.end(), body.begin(), body.end());
  fix_crc(page);
  return page;
}

std::vector<int16_t> decode_all(const std::vector<uint8_t>& stream) {
  OggOpusReader reader;
  std::vector<int16_t> pcm;
  auto ok = reader.feed(stream, pcm);
  EXPECT_TRUE(ok.has_value()) << ok.error().message;
  return pcm;
}

OggError expect_error(OggOpusReader& reader, const std::vector<uint8_t>& bytes,
                      std::vector<int16_t>& pcm) {
  auto r = reader.feed(bytes, pcm);
  EXPECT_FALSE(r.has_value());
  EXPECT_TRUE(reader.failed());
  return r ? OggError{OggErrorKind::invalid_page, "(no error)"} : r.error();
}

TEST(OggReader, SampleStreamsDecodeToTheExpectedLength) {
  for (const char* name : {"zeros", "sine", "sine50"}) {
    SCOPED_TRACE(name);
    int const frames = frames_in_dump(std::string(name) + ".txt");
    ASSERT_GT(frames, 0);
    OggOpusReader reader;
    std::vector<int16_t> pcm;
    auto ok = reader.feed(sample_stream(std::string(name) + ".opus"), pcm);
    ASSERT_TRUE(ok.has_value()) << ok.error().message;
    EXPECT_EQ(pcm.size(), static_cast<std::size_t>(frames) * 1920) << "1920 samples per 80 ms page";
    auto const& st = reader.stats();
    EXPECT_EQ(st.pages, frames + 2);
    EXPECT_EQ(st.header_packets, 2);
    EXPECT_EQ(st.audio_packets, frames);
    EXPECT_EQ(st.decoded_samples, static_cast<int64_t>(pcm.size()));
    EXPECT_EQ(st.skipped_bytes, 0);
    EXPECT_EQ(st.holes, 0);
    EXPECT_EQ(st.streams, 1);
  }
}

// Protocol §8.4: the sine streams carry a 0.5-amplitude 440 Hz tone; zeros.opus digital silence.
TEST(OggReader, SampleStreamsCarryTheirSignals) {
  auto const sine = decode_all(sample_stream("sine50.opus"));
  auto const steady = std::span<const int16_t>(sine).subspan(1920); // past the codec's start-up
  EXPECT_NEAR(testsupport::zero_crossing_frequency(steady, 24000), 440.0, 1.0);
  EXPECT_NEAR(testsupport::peak_frequency(steady, 24000, 100.0, 4000.0), 440.0, 1.0);
  EXPECT_NEAR(testsupport::tone_level_dbfs(steady, 24000, 440.0), -9.03, 1.0);

  auto const zeros = decode_all(sample_stream("zeros.opus"));
  EXPECT_LE(peak_abs(zeros), 16);
}

TEST(OggReader, EverySplitPointDecodesSampleIdentically) {
  for (const char* name : {"sine.opus", "zeros.opus"}) {
    SCOPED_TRACE(name);
    auto const stream = sample_stream(name);
    auto const reference = decode_all(stream);
    ASSERT_FALSE(reference.empty());
    std::span<const uint8_t> const all(stream);
    for (std::size_t split = 0; split <= stream.size(); ++split) {
      OggOpusReader reader;
      std::vector<int16_t> pcm;
      ASSERT_TRUE(reader.feed(all.first(split), pcm).has_value()) << "split " << split;
      ASSERT_TRUE(reader.feed(all.subspan(split), pcm).has_value()) << "split " << split;
      ASSERT_EQ(pcm, reference) << "split at byte " << split;
    }
  }
}

TEST(OggReader, EverySplitPointOfALongStreamDemuxesIdentically) {
  auto const stream = sample_stream("sine50.opus");
  OggOpusReader whole_reader({24000, 150 * 1024, false});
  std::vector<std::vector<uint8_t>> reference;
  ASSERT_TRUE(whole_reader.feed_packets(stream, reference).has_value());
  ASSERT_EQ(reference.size(), 50u);
  std::span<const uint8_t> const all(stream);
  for (std::size_t split = 0; split <= stream.size(); ++split) {
    OggOpusReader reader({24000, 150 * 1024, false});
    std::vector<std::vector<uint8_t>> packets;
    ASSERT_TRUE(reader.feed_packets(all.first(split), packets).has_value());
    ASSERT_TRUE(reader.feed_packets(all.subspan(split), packets).has_value());
    ASSERT_EQ(packets, reference) << "split at byte " << split;
  }
}

TEST(OggReader, OneByteAtATimeDecodesSampleIdentically) {
  auto const stream = sample_stream("sine50.opus");
  auto const reference = decode_all(stream);
  OggOpusReader reader;
  std::vector<int16_t> pcm;
  for (uint8_t byte : stream) {
    ASSERT_TRUE(reader.feed(std::span<const uint8_t>(&byte, 1), pcm).has_value());
  }
  EXPECT_EQ(pcm, reference);
  EXPECT_EQ(reader.stats().pages, 52);
}

TEST(OggReader, RandomSplitsDecodeSampleIdentically) {
  auto const stream = sample_stream("sine50.opus");
  auto const reference = decode_all(stream);
  std::mt19937 rng(5);
  for (int iter = 0; iter < 20; ++iter) {
    OggOpusReader reader;
    std::vector<int16_t> pcm;
    std::size_t pos = 0;
    while (pos < stream.size()) {
      std::size_t const n = std::min<std::size_t>(stream.size() - pos, 1 + rng() % 700);
      ASSERT_TRUE(reader.feed(std::span<const uint8_t>(stream).subspan(pos, n), pcm).has_value());
      pos += n;
    }
    ASSERT_EQ(pcm, reference);
  }
}

std::vector<uint8_t> junk(std::mt19937& rng, std::size_t n) {
  std::vector<uint8_t> out(n);
  for (auto& b : out) {
    b = static_cast<uint8_t>(rng());
    if (b == 'O') {
      b = 'o'; // no capture pattern can form inside the junk
    }
  }
  return out;
}

TEST(OggReader, SkipsJunkBeforeAndBetweenPages) {
  auto const pages = split_pages(sample_stream("sine.opus"));
  std::mt19937 rng(11);
  std::vector<uint8_t> stream = junk(rng, 700);
  std::size_t junk_bytes = 700;
  for (const auto& p : pages) {
    stream.insert(stream.end(), p.begin(), p.end());
    auto const j = junk(rng, 40 + rng() % 100);
    stream.insert(stream.end(), j.begin(), j.end());
    junk_bytes += j.size();
  }
  stream.resize(stream.size() - 30); // leave a short unfinished tail: waits, no error
  junk_bytes -= 30;
  OggOpusReader reader;
  std::vector<int16_t> pcm;
  ASSERT_TRUE(reader.feed(stream, pcm).has_value());
  EXPECT_EQ(pcm, decode_all(join(pages)));
  EXPECT_EQ(reader.stats().skipped_bytes, static_cast<int64_t>(junk_bytes));
}

TEST(OggReader, RandomBytesBeyondTheResyncLimitFail) {
  std::mt19937 rng(3);
  OggOpusReader reader({24000, 4096, true});
  std::vector<int16_t> pcm;
  auto const noise = junk(rng, 2000);
  ASSERT_TRUE(reader.feed(noise, pcm).has_value()) << "2000 bytes are within the limit";
  auto const more = junk(rng, 3000);
  auto const e = expect_error(reader, more, pcm);
  EXPECT_EQ(e.kind, OggErrorKind::no_capture_pattern) << e.message;
  EXPECT_TRUE(pcm.empty());
  // Sticky: even a valid stream is refused now.
  auto again = reader.feed(sample_stream("sine.opus"), pcm);
  ASSERT_FALSE(again.has_value());
  EXPECT_EQ(again.error().kind, OggErrorKind::no_capture_pattern);
  EXPECT_TRUE(pcm.empty());
}

TEST(OggReader, RawOpusWithoutOggIsRefusedAfterTheLimit) {
  // Protocol §3.3: raw Opus packets (no Ogg) are searched for "OggS" up to 150 KiB, then refused.
  auto const packets = [] {
    OggOpusReader r({24000, 150 * 1024, false});
    std::vector<std::vector<uint8_t>> p;
    r.feed_packets(sample_stream("sine50.opus"), p);
    return p;
  }();
  OggOpusReader reader;
  std::vector<int16_t> pcm;
  tl::expected<void, OggError> r;
  std::size_t fed = 0;
  while (r.has_value() && fed < 400 * 1024) {
    for (const auto& p : packets) {
      r = reader.feed(p, pcm);
      fed += p.size();
      if (!r) {
        break;
      }
    }
  }
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().kind, OggErrorKind::no_capture_pattern);
  EXPECT_GT(fed, 150u * 1024);
  EXPECT_TRUE(pcm.empty());
}

TEST(OggReader, WrongCrcIsATypedStickyError) {
  auto pages = split_pages(sample_stream("sine.opus"));
  pages[3][22] ^= 0x01; // second audio page: CRC byte flipped
  OggOpusReader reader;
  std::vector<int16_t> pcm;
  auto const e = expect_error(reader, join(pages), pcm);
  EXPECT_EQ(e.kind, OggErrorKind::crc_mismatch) << e.message;
  EXPECT_EQ(pcm.size(), 1920u) << "the audio page before the bad one was decoded";
  EXPECT_EQ(reader.stats().pages, 3);
  auto again = reader.feed(sample_stream("sine.opus"), pcm);
  ASSERT_FALSE(again.has_value());
  EXPECT_EQ(again.error().kind, OggErrorKind::crc_mismatch);
  EXPECT_EQ(pcm.size(), 1920u);
}

TEST(OggReader, CorruptedBodyIsACrcError) {
  auto pages = split_pages(sample_stream("sine.opus"));
  pages[2].back() ^= 0x40;
  OggOpusReader reader;
  std::vector<int16_t> pcm;
  EXPECT_EQ(expect_error(reader, join(pages), pcm).kind, OggErrorKind::crc_mismatch);
  EXPECT_TRUE(pcm.empty());
}

TEST(OggReader, FirstPageWithoutBosIsRefused) {
  auto pages = split_pages(sample_stream("sine.opus"));
  pages[0][5] &= static_cast<uint8_t>(~0x02);
  fix_crc(pages[0]);
  OggOpusReader reader;
  std::vector<int16_t> pcm;
  EXPECT_EQ(expect_error(reader, join(pages), pcm).kind, OggErrorKind::missing_bos);

  // Dropping the BOS page altogether (e.g. swallowed before the handshake) fails the same way.
  pages = split_pages(sample_stream("sine.opus"));
  pages.erase(pages.begin());
  OggOpusReader reader2;
  EXPECT_EQ(expect_error(reader2, join(pages), pcm).kind, OggErrorKind::missing_bos);
  EXPECT_TRUE(pcm.empty());
}

TEST(OggReader, DuplicateBosIsRefused) {
  const auto pages = split_pages(sample_stream("sine.opus"));
  OggOpusReader reader;
  std::vector<int16_t> pcm;
  // The BOS page twice in a row, then the rest of the stream.
  auto bytes = pages[0];
  const auto stream = join(pages);
  bytes.insert(bytes.end(), stream.begin(), stream.end());
  auto const e = expect_error(reader, bytes, pcm);
  EXPECT_EQ(e.kind, OggErrorKind::duplicate_bos) << e.message;
}

TEST(OggReader, TruncatedPageFollowedByANewPageIsACrcError) {
  auto pages = split_pages(sample_stream("sine.opus"));
  pages[2].resize(pages[2].size() / 2);
  OggOpusReader reader;
  std::vector<int16_t> pcm;
  EXPECT_EQ(expect_error(reader, join(pages), pcm).kind, OggErrorKind::crc_mismatch);
  EXPECT_TRUE(pcm.empty());
}

TEST(OggReader, ContinuedFlagMustMatchThePreviousPage) {
  // A 265-byte packet spanning two pages is legal...
  std::vector<uint8_t> const big(265, 0x11);
  auto head = split_pages(sample_stream("sine.opus"))[0];
  auto const first =
      make_page(0x00, 42, 1, {255}, std::vector<uint8_t>(big.begin(), big.begin() + 255));
  auto const second =
      make_page(0x01, 42, 2, {10}, std::vector<uint8_t>(big.begin() + 255, big.end()));
  {
    OggOpusReader reader({24000, 150 * 1024, false});
    std::vector<std::vector<uint8_t>> packets;
    ASSERT_TRUE(reader.feed_packets(join({head, first, second}), packets).has_value());
    ASSERT_EQ(packets.size(), 1u);
    EXPECT_EQ(packets[0], big);
  }
  // ...but not without the continued flag on the second page,
  {
    auto const unflagged = make_page(0x00, 42, 2, {10}, std::vector<uint8_t>(10, 0x11));
    OggOpusReader reader({24000, 150 * 1024, false});
    std::vector<std::vector<uint8_t>> packets;
    auto r = reader.feed_packets(join({head, first, unflagged}), packets);
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().kind, OggErrorKind::continued_mismatch) << r.error().message;
  }
  // ...nor a continued flag after a page that ended its packet,
  {
    auto pages = split_pages(sample_stream("sine.opus"));
    pages[2][5] |= 0x01;
    fix_crc(pages[2]);
    OggOpusReader reader;
    std::vector<int16_t> pcm;
    EXPECT_EQ(expect_error(reader, join(pages), pcm).kind, OggErrorKind::continued_mismatch);
  }
  // ...nor a first page of a stream that starts with a continued packet.
  {
    auto pages = split_pages(sample_stream("sine.opus"));
    pages[0][5] |= 0x01;
    fix_crc(pages[0]);
    OggOpusReader reader;
    std::vector<int16_t> pcm;
    EXPECT_EQ(expect_error(reader, join(pages), pcm).kind, OggErrorKind::continued_mismatch);
  }
}

TEST(OggReader, UnknownStreamVersionIsAnInvalidPage) {
  auto pages = split_pages(sample_stream("sine.opus"));
  pages[2][4] = 1;
  fix_crc(pages[2]);
  OggOpusReader reader;
  std::vector<int16_t> pcm;
  EXPECT_EQ(expect_error(reader, join(pages), pcm).kind, OggErrorKind::invalid_page);
}

TEST(OggReader, InvalidOpusPacketIsADecodeError) {
  auto pages = split_pages(sample_stream("sine.opus"));
  pages.insert(pages.begin() + 3, make_page(0x00, 42, 3, {2}, {0x03, 0x00})); // zero frames
  OggOpusReader reader;
  std::vector<int16_t> pcm;
  auto const e = expect_error(reader, join(pages), pcm);
  EXPECT_EQ(e.kind, OggErrorKind::opus_decode) << e.message;
  EXPECT_EQ(pcm.size(), 1920u);
}

TEST(OggReader, SequenceGapsAreCountedNotFatal) {
  auto pages = split_pages(sample_stream("sine50.opus"));
  pages.erase(pages.begin() + 10); // as the real server, sequence numbers are not enforced
  OggOpusReader reader;
  std::vector<int16_t> pcm;
  ASSERT_TRUE(reader.feed(join(pages), pcm).has_value());
  EXPECT_EQ(reader.stats().holes, 1);
  EXPECT_EQ(pcm.size(), 49u * 1920);
}

TEST(OggReader, MutatedStreamsNeverCrash) {
  auto const base = sample_stream("sine.opus");
  std::mt19937 rng(2024);
  int errors = 0;
  for (int iter = 0; iter < 1500; ++iter) {
    auto pages = split_pages(base);
    // Mutate one random byte; half the time re-seal the CRC so deeper checks are reached.
    auto& page = pages[rng() % pages.size()];
    page[rng() % page.size()] = static_cast<uint8_t>(rng());
    if (rng() % 2 == 0 && page.size() >= 27) {
      fix_crc(page);
    }
    auto const stream = join(pages);
    OggOpusReader reader({24000, 4096, true});
    std::vector<int16_t> pcm;
    std::size_t pos = 0;
    tl::expected<void, OggError> r;
    while (pos < stream.size() && r) {
      std::size_t const n = std::min<std::size_t>(stream.size() - pos, 1 + rng() % 300);
      r = reader.feed(std::span<const uint8_t>(stream).subspan(pos, n), pcm);
      pos += n;
    }
    if (!r) {
      ++errors;
      EXPECT_FALSE(r.error().message.empty());
      EXPECT_NE(std::string(to_string(r.error().kind)), "unknown");
    }
    // Whatever happened, output is bounded by what the packets can hold.
    EXPECT_LE(pcm.size(), static_cast<std::size_t>(reader.stats().audio_packets) * 2880);
  }
  EXPECT_GT(errors, 0);
}

TEST(OggReader, ClientWriterOutputRoundTrips) {
  auto encoder = OpusEncoder::create({24000, true, 5, 0});
  ASSERT_TRUE(encoder.has_value());
  OggOpusWriter writer(
      standard_client_framing(0xCAFE, opus_pre_skip_48k(encoder->lookahead_samples(), 24000)));
  testsupport::SineGenerator gen(24000, 700.0, 0.4);
  std::vector<int16_t> frame(480);
  std::vector<uint8_t> packet;
  std::vector<uint8_t> page;
  OggOpusReader reader;
  std::vector<int16_t> pcm;
  ASSERT_TRUE(reader.feed(writer.head_page(), pcm).has_value());
  ASSERT_TRUE(reader.feed(writer.tags_page(), pcm).has_value());
  constexpr int kPackets = 150; // 3 s
  for (int i = 0; i < kPackets; ++i) {
    gen.fill(frame);
    ASSERT_TRUE(encoder->encode(frame, packet).has_value());
    writer.packet_page(packet, 480, page, i == kPackets - 1);
    ASSERT_TRUE(reader.feed(page, pcm).has_value());
  }
  EXPECT_EQ(pcm.size(), static_cast<std::size_t>(kPackets) * 480);
  EXPECT_EQ(reader.stats().audio_packets, kPackets);
  EXPECT_NEAR(
      testsupport::zero_crossing_frequency(std::span<const int16_t>(pcm).subspan(2400), 24000),
      700.0, 1.0);
}

TEST(OggReader, ChainedStreamsAreAccepted) {
  auto const one = sample_stream("sine.opus");
  // The same stream again under another serial, as a new encoder would start it.
  auto pages = split_pages(one);
  for (auto& p : pages) {
    p[14] = 0x99;
    fix_crc(p);
  }
  // The first stream ends with EOS so a second BOS with its serial would also be legal later.
  auto first = split_pages(one);
  first.back()[5] |= 0x04;
  fix_crc(first.back());
  OggOpusReader reader;
  std::vector<int16_t> pcm;
  ASSERT_TRUE(reader.feed(join(first), pcm).has_value());
  ASSERT_TRUE(reader.feed(join(pages), pcm).has_value());
  ASSERT_TRUE(reader.feed(join(first), pcm).has_value()) << "serial 42 ended with EOS";
  EXPECT_EQ(reader.stats().streams, 3);
  EXPECT_EQ(pcm.size(), 3u * 3 * 1920);
}

TEST(OggReader, OpenStreamsAreBounded) {
  OggOpusReader reader;
  std::vector<int16_t> pcm;
  for (uint32_t serial = 1; serial <= 16; ++serial) {
    OggOpusWriter writer(standard_client_framing(serial, 312));
    ASSERT_TRUE(reader.feed(writer.head_page(), pcm).has_value()) << "stream " << serial;
  }
  OggOpusWriter extra(standard_client_framing(17, 312));
  auto const e = expect_error(reader, extra.head_page(), pcm);
  EXPECT_EQ(e.kind, OggErrorKind::invalid_page);
  EXPECT_NE(e.message.find("too many"), std::string::npos) << e.message;
}

TEST(OggReader, UnsupportedDecodeRateIsATypedError) {
  OggOpusReader reader({44100, 150 * 1024, true});
  EXPECT_TRUE(reader.failed());
  std::vector<int16_t> pcm;
  auto r = reader.feed(sample_stream("sine.opus"), pcm);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().kind, OggErrorKind::opus_decode);
  EXPECT_NE(r.error().message.find("44100"), std::string::npos) << r.error().message;
  EXPECT_TRUE(pcm.empty());
}

TEST(OggReader, DecodesAtOtherRates) {
  OggOpusReader reader({48000, 150 * 1024, true});
  std::vector<int16_t> pcm;
  ASSERT_TRUE(reader.feed(sample_stream("sine.opus"), pcm).has_value());
  EXPECT_EQ(pcm.size(), 3u * 3840);
}

TEST(OggReader, MovedReaderKeepsItsState) {
  auto const stream = sample_stream("sine.opus");
  OggOpusReader reader;
  std::vector<int16_t> pcm;
  ASSERT_TRUE(reader.feed(std::span<const uint8_t>(stream).first(100), pcm).has_value());
  OggOpusReader moved = std::move(reader);
  ASSERT_TRUE(moved.feed(std::span<const uint8_t>(stream).subspan(100), pcm).has_value());
  EXPECT_EQ(pcm, decode_all(stream));
}

} // namespace
} // namespace pv::audio
