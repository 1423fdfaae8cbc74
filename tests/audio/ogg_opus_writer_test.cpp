// Ogg Opus writer: the sphn server framing byte for byte against the protocol's test vectors
// (§8.2-8.5) and against the three sample streams in testdata/personaplex (demuxed and re-muxed,
// the files must come out identical), lacing edge cases, and the RFC 7845 client framing fields.

#include "audio/ogg_opus.hpp"

#include "audio_test_util.hpp"

#include <gtest/gtest.h>

#include <cstring>

namespace pv::audio {
namespace {

using testutil::hex;
using testutil::read_file;
using testutil::testdata;

// Page header fields (RFC 3533).
struct PageHeader {
  uint8_t version;
  uint8_t flags;
  int64_t granule;
  uint32_t serial;
  uint32_t sequence;
  uint32_t crc;
  std::vector<uint8_t> lacing;
  std::size_t header_len;
};

uint32_t le32(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) | (static_cast<uint32_t>(p[1]) << 8) |
         (static_cast<uint32_t>(p[2]) << 16) | (static_cast<uint32_t>(p[3]) << 24);
}

PageHeader parse_header(const std::vector<uint8_t>& page) {
  EXPECT_GE(page.size(), 27u);
  EXPECT_EQ(std::memcmp(page.data(), "OggS", 4), 0);
  PageHeader h{};
  h.version = page[4];
  h.flags = page[5];
  h.granule = static_cast<int64_t>(le32(&page[6])) | (static_cast<int64_t>(le32(&page[10])) << 32);
  h.serial = le32(&page[14]);
  h.sequence = le32(&page[18]);
  h.crc = le32(&page[22]);
  h.lacing.assign(page.begin() + 27, page.begin() + 27 + page[26]);
  h.header_len = 27 + page[26];
  return h;
}

// The CRC a page should carry: CRC over the page with its CRC field zeroed.
uint32_t recomputed_crc(std::vector<uint8_t> page) {
  std::fill(page.begin() + 22, page.begin() + 26, uint8_t{0});
  return ogg_crc32(page);
}

// Demuxes a stream into its audio packets with our reader (demux only, no decoding).
std::vector<std::vector<uint8_t>> audio_packets(const std::vector<uint8_t>& stream) {
  OggOpusReader reader({24000, 150 * 1024, false});
  std::vector<std::vector<uint8_t>> packets;
  auto ok = reader.feed_packets(stream, packets);
  EXPECT_TRUE(ok.has_value()) << ok.error().message;
  return packets;
}

// §8.2, without the leading 0x01 message kind.
const char* kSphnHead = "4f 67 67 53 00 02 00 00 00 00 00 00 00 00 2a 00"
                        "00 00 00 00 00 00 ef 88 87 22 01 13 4f 70 75 73"
                        "48 65 61 64 01 01 00 0f c0 5d 00 00 00 00 00";
const char* kSphnTags = "4f 67 67 53 00 00 00 00 00 00 00 00 00 00 2a 00"
                        "00 00 01 00 00 00 bf d8 21 e5 01 19 4f 70 75 73"
                        "54 61 67 73 09 00 00 00 73 70 68 6e 2d 70 79 6f"
                        "33 00 00 00 00";
// §8.4: 1920 zero samples, Debian libopus 1.3.1.
const char* kSilencePage = "4f 67 67 53 00 00 80 07 00 00 00 00 00 00 2a 00"
                           "00 00 02 00 00 00 bc bb db 15 01 68"
                           "6b 84 18 19 19 0b e4 c1 36 ec c5 8d 8c 49 48 4a"
                           "31 76 41 98 5d f5 fa e3 5f 9f 5b 80 00 07 c9 72"
                           "27 e1 44 ea 55 f1 f0 c0 d1 b0 c0 c2 3f 49 0e be"
                           "b1 1a 07 ec 7e c0 07 c9 79 c8 c9 57 c0 a2 12 23"
                           "fa 59 ce 1a d2 28 5f f6 b1 1a 26 a4 a6 a4 80 07"
                           "c9 79 c8 c9 57 c0 a2 12 23 fa 59 ce 1a d2 28 5f"
                           "f6 b1 1a 26 a4 a6 a4 80";

TEST(OggCrc, MatchesTheCheckValue) {
  const char* text = "123456789";
  std::span<const uint8_t> bytes(reinterpret_cast<const uint8_t*>(text), 9);
  EXPECT_EQ(ogg_crc32(bytes), 0x89A1897Fu);
  EXPECT_EQ(ogg_crc32({}), 0u);
}

TEST(OggCrc, MatchesTheVectorPagesCrcFields) {
  for (const char* vector : {kSphnHead, kSphnTags, kSilencePage}) {
    auto const page = hex(vector);
    EXPECT_EQ(recomputed_crc(page), parse_header(page).crc);
  }
}

TEST(SphnFraming, HeaderPagesAreByteExact) {
  OggOpusWriter writer(sphn_server_framing());
  EXPECT_EQ(writer.head_page(), hex(kSphnHead));
  EXPECT_EQ(writer.tags_page(), hex(kSphnTags));
  EXPECT_EQ(writer.pages_written(), 2);
}

TEST(SphnFraming, AudioPagesFollowTheTemplate) {
  OggOpusWriter writer(sphn_server_framing());
  writer.head_page();
  writer.tags_page();
  std::vector<uint8_t> page;
  for (int k = 1; k <= 3; ++k) {
    std::vector<uint8_t> packet(100 + static_cast<std::size_t>(k), static_cast<uint8_t>(k));
    writer.packet_page(packet, 1920, page);
    auto const h = parse_header(page);
    EXPECT_EQ(h.version, 0);
    EXPECT_EQ(h.flags, 0) << "no BOS/EOS/continued on audio pages";
    EXPECT_EQ(h.granule, 1920 * k) << "granule counts 24 kHz samples";
    EXPECT_EQ(h.serial, 42u);
    EXPECT_EQ(h.sequence, static_cast<uint32_t>(k + 1));
    EXPECT_EQ(h.lacing, std::vector<uint8_t>{static_cast<uint8_t>(packet.size())});
    EXPECT_EQ(h.crc, recomputed_crc(page));
    EXPECT_TRUE(std::equal(packet.begin(), packet.end(), page.begin() + 28));
    EXPECT_EQ(page.size(), 28 + packet.size());
  }
}

TEST(SphnFraming, LacingOfPacketsAroundMultiplesOf255) {
  struct Case {
    std::size_t size;
    std::vector<uint8_t> lacing;
  };
  for (const auto& c :
       {Case{254, {254}}, Case{255, {255, 0}}, Case{256, {255, 1}}, Case{342, {255, 87}},
        Case{510, {255, 255, 0}}, Case{1000, {255, 255, 255, 235}}}) {
    SCOPED_TRACE(c.size);
    OggOpusWriter writer(sphn_server_framing());
    writer.head_page();
    writer.tags_page();
    std::vector<uint8_t> page;
    writer.packet_page(std::vector<uint8_t>(c.size, 0x5A), 1920, page);
    auto const h = parse_header(page);
    EXPECT_EQ(h.lacing, c.lacing);
    EXPECT_EQ(page.size(), h.header_len + c.size);
  }
}

// The sample streams were produced by the reference implementation: re-muxing their packets with
// our writer must reproduce every byte (headers, granules, sequence numbers, lacing, CRCs).
TEST(SphnFraming, RemuxedSampleStreamsAreByteIdentical) {
  for (const char* name : {"zeros.opus", "sine.opus", "sine50.opus"}) {
    SCOPED_TRACE(name);
    auto const original = read_file(testdata(std::string("personaplex/") + name));
    auto const packets = audio_packets(original);
    ASSERT_FALSE(packets.empty());
    OggOpusWriter writer(sphn_server_framing());
    std::vector<uint8_t> rebuilt = writer.head_page();
    auto const tags = writer.tags_page();
    rebuilt.insert(rebuilt.end(), tags.begin(), tags.end());
    std::vector<uint8_t> page;
    for (const auto& p : packets) {
      writer.packet_page(p, 1920, page);
      rebuilt.insert(rebuilt.end(), page.begin(), page.end());
    }
    EXPECT_EQ(rebuilt.size(), original.size());
    EXPECT_TRUE(rebuilt == original)
        << "first difference at byte "
        << (std::mismatch(rebuilt.begin(), rebuilt.end(), original.begin(), original.end()).first -
            rebuilt.begin());
  }
}

// §8.4. Opus output depends on the libopus build, so the fixed header fields are asserted always
// and the whole page only when this machine's libopus produces the vector's packet.
TEST(SphnFraming, EncodedSilencePageMatchesTheVectorWhenTheCodecAgrees) {
  auto encoder = OpusEncoder::create({24000, true, -1, 0}); // as the server: VOIP, defaults
  ASSERT_TRUE(encoder.has_value());
  std::vector<uint8_t> packet;
  ASSERT_TRUE(encoder->encode(std::vector<int16_t>(1920, 0), packet).has_value());

  OggOpusWriter writer(sphn_server_framing());
  writer.head_page();
  writer.tags_page();
  std::vector<uint8_t> page;
  writer.packet_page(packet, 1920, page);

  auto const h = parse_header(page);
  EXPECT_EQ(h.flags, 0);
  EXPECT_EQ(h.granule, 1920);
  EXPECT_EQ(h.serial, 42u);
  EXPECT_EQ(h.sequence, 2u);
  EXPECT_EQ(h.crc, recomputed_crc(page));
  EXPECT_TRUE(std::equal(packet.begin(), packet.end(),
                         page.begin() + static_cast<std::ptrdiff_t>(h.header_len)));
  EXPECT_EQ(page.size(), h.header_len + packet.size());

  auto const vector_page = hex(kSilencePage);
  std::vector<uint8_t> const vector_packet(vector_page.begin() + 28, vector_page.end());
  if (packet == vector_packet) {
    EXPECT_EQ(page, vector_page);
    std::printf("[ogg] this libopus reproduces the §8.4 packet: whole page compared\n");
  } else {
    std::printf("[ogg] this libopus encodes silence differently (%zu bytes, TOC 0x%02x): full-page "
                "comparison skipped, header fields checked\n",
                packet.size(), packet[0]);
  }
}

TEST(ClientFraming, HeadersFollowRfc7845) {
  auto encoder = OpusEncoder::create({24000, true, 5, 0});
  ASSERT_TRUE(encoder.has_value());
  uint16_t const pre_skip = opus_pre_skip_48k(encoder->lookahead_samples(), 24000);
  EXPECT_EQ(pre_skip, 2 * encoder->lookahead_samples());
  OggOpusWriter writer(standard_client_framing(0x12345678, pre_skip));

  auto const head = writer.head_page();
  auto const hh = parse_header(head);
  EXPECT_EQ(hh.flags, 0x02) << "BOS";
  EXPECT_EQ(hh.serial, 0x12345678u);
  EXPECT_EQ(hh.sequence, 0u);
  EXPECT_EQ(hh.granule, 0);
  EXPECT_EQ(hh.crc, recomputed_crc(head));
  std::vector<uint8_t> const body(head.begin() + static_cast<std::ptrdiff_t>(hh.header_len),
                                  head.end());
  ASSERT_EQ(body.size(), 19u);
  EXPECT_EQ(std::memcmp(body.data(), "OpusHead", 8), 0);
  EXPECT_EQ(body[8], 1); // version
  EXPECT_EQ(body[9], 1); // channels
  EXPECT_EQ(body[10] | (body[11] << 8), pre_skip);
  EXPECT_EQ(le32(&body[12]), 24000u);
  EXPECT_EQ(body[16] | (body[17] << 8), 0); // gain
  EXPECT_EQ(body[18], 0);                   // mapping family

  auto const tags = writer.tags_page();
  auto const th = parse_header(tags);
  EXPECT_EQ(th.flags, 0);
  EXPECT_EQ(th.sequence, 1u);
  std::string const tag_body(tags.begin() + static_cast<std::ptrdiff_t>(th.header_len), tags.end());
  EXPECT_EQ(tag_body, std::string("OpusTags\x0d\0\0\0podium-voices\0\0\0\0", 29));
}

TEST(ClientFraming, GranulesCount48kHzSamplesAndEosMarksTheLastPage) {
  OggOpusWriter writer(standard_client_framing(7, 312));
  writer.head_page();
  writer.tags_page();
  std::vector<uint8_t> page;
  for (int k = 1; k <= 50; ++k) {
    bool const last = k == 50;
    writer.packet_page(std::vector<uint8_t>(60, 1), 480, page, last);
    auto const h = parse_header(page);
    EXPECT_EQ(h.granule, 960 * k) << "one 20 ms packet = 960 samples at 48 kHz";
    EXPECT_EQ(h.sequence, static_cast<uint32_t>(k + 1));
    EXPECT_EQ(h.flags, last ? 0x04 : 0x00);
    EXPECT_EQ(h.crc, recomputed_crc(page));
  }
  EXPECT_EQ(writer.granule(), 48000);
  EXPECT_EQ(writer.pages_written(), 52);
}

TEST(ClientFraming, GranuleStaysExactForRatesThatDoNotDivide48k) {
  OggOpusWriterParams params = standard_client_framing(1, 0);
  params.codec_rate_hz = 16000;
  OggOpusWriter writer(params);
  writer.head_page();
  writer.tags_page();
  std::vector<uint8_t> page;
  for (int k = 1; k <= 7; ++k) {
    writer.packet_page(std::vector<uint8_t>(3, 1), 40, page); // 2.5 ms at 16 kHz
  }
  EXPECT_EQ(writer.granule(), 7 * 40 * 3);
}

} // namespace
} // namespace pv::audio
