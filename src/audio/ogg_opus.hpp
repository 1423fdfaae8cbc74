#pragma once
// Ogg encapsulation of Opus (RFC 7845) for streaming over WebSocket messages, on libogg.
//
// Writer: one packet per page, each page emitted as soon as its packet is added (no muxing delay).
// Two framings are used by this project (see docs/personaplex.md and the protocol document §3):
//   * sphn_server_framing()      – what the PersonaPlex server sends: serial 42, OpusHead pre-skip
//     3840 and input rate 24000, OpusTags vendor "sphn-pyo3", granule in 24 kHz samples. Byte-exact
//     against the protocol's test vectors.
//   * standard_client_framing()  – what our client sends: RFC 7845 granules (48 kHz units),
//     pre-skip = the encoder's real look-ahead at 48 kHz, our vendor string.
//
// Reader: incremental; bytes may arrive split or batched at any boundary. Finds pages by capture
// pattern, verifies CRCs, requires BOS on the first page of a serial, skips OpusHead/OpusTags and
// decodes every audio packet (2.5..120 ms) at the configured rate. The first error puts the reader
// in a failed state and is reported as a typed OggError (never a crash on garbage).

#include "audio/opus_codec.hpp"

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include <tl/expected.hpp>

namespace pv::audio {

// CRC-32 as used by Ogg: poly 0x04C11DB7, init 0, no reflection, no final xor.
uint32_t ogg_crc32(std::span<const uint8_t> bytes);

enum class GranuleUnits {
  rate_48k,  // RFC 7845: granule counts 48 kHz samples
  codec_rate // sphn quirk: granule counts samples at the codec rate (24 kHz)
};

struct OggOpusWriterParams {
  uint32_t serial = 0;
  uint16_t pre_skip_48k = 0;
  uint32_t input_rate_hz = 24000; // informational field of OpusHead
  std::string vendor = "podium-voices";
  int codec_rate_hz = 24000;
  GranuleUnits granule_units = GranuleUnits::rate_48k;
};

OggOpusWriterParams sphn_server_framing();
OggOpusWriterParams standard_client_framing(uint32_t serial, uint16_t pre_skip_48k);

class OggOpusWriter {
public:
  explicit OggOpusWriter(const OggOpusWriterParams& params);
  OggOpusWriter(OggOpusWriter&&) noexcept;
  OggOpusWriter& operator=(OggOpusWriter&&) noexcept;
  ~OggOpusWriter();

  // Page 0 (BOS, OpusHead) and page 1 (OpusTags), each a complete page. Call once, first.
  std::vector<uint8_t> head_page();
  std::vector<uint8_t> tags_page();

  // Wraps one Opus packet holding `samples_at_codec_rate` samples in its own page and appends the
  // page bytes to `out` (cleared first). Granule advances by the packet's duration.
  void packet_page(std::span<const uint8_t> packet, int samples_at_codec_rate,
                   std::vector<uint8_t>& out, bool end_of_stream = false);

  uint32_t serial() const { return params_.serial; }
  int64_t pages_written() const;

private:
  struct Impl;
  OggOpusWriterParams params_;
  std::unique_ptr<Impl> impl_;
};

enum class OggErrorKind {
  no_capture_pattern,  // more than max_resync_bytes searched without finding "OggS"
  crc_mismatch,        // a page's CRC is wrong
  missing_bos,         // first page of a logical stream lacks the BOS flag
  duplicate_bos,       // a second BOS for a serial already seen
  continued_mismatch,  // continued-packet flag inconsistent with the previous page
  invalid_page,        // bad version / header fields
  opus_decode,         // libopus rejected a packet
};

const char* to_string(OggErrorKind kind);

struct OggError {
  OggErrorKind kind;
  std::string message;
};

struct OggOpusReaderParams {
  int decode_rate_hz = 24000;
  std::size_t max_resync_bytes = 150 * 1024; // like the real server's reader
  bool decode_audio = true; // false: demux only (packets are counted, not decoded)
};

struct OggOpusReaderStats {
  int64_t pages = 0;
  int64_t header_packets = 0;
  int64_t audio_packets = 0;
  int64_t decoded_samples = 0;
  int64_t skipped_bytes = 0; // junk between pages
};

class OggOpusReader {
public:
  explicit OggOpusReader(const OggOpusReaderParams& params = {});
  OggOpusReader(OggOpusReader&&) noexcept;
  OggOpusReader& operator=(OggOpusReader&&) noexcept;
  ~OggOpusReader();

  // Feeds bytes; decoded mono PCM at decode_rate is appended to `pcm`. Incomplete pages wait for
  // more bytes. After an error every later call returns the same error.
  tl::expected<void, OggError> feed(std::span<const uint8_t> bytes, std::vector<int16_t>& pcm);

  // Demux-only variant: appends each complete audio packet (headers skipped) to `packets`.
  tl::expected<void, OggError> feed_packets(std::span<const uint8_t> bytes,
                                            std::vector<std::vector<uint8_t>>& packets);

  const OggOpusReaderStats& stats() const;
  bool failed() const;

private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

} // namespace pv::audio
