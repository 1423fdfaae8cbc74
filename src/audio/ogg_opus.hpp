#pragma once
// Ogg encapsulation of Opus (RFC 7845) for streaming over WebSocket messages, on libogg.
//
// Writer: one packet per page, each page emitted as soon as its packet is added (no muxing delay;
// ogg_stream_packetin + ogg_stream_flush, CRC by libogg). Two framings are used by this project
// (see the protocol document §3):
//   * sphn_server_framing()      – what the PersonaPlex server sends: serial 42, OpusHead pre-skip
//     3840 and input rate 24000, OpusTags vendor "sphn-pyo3", granule in 24 kHz samples, EOS never
//     set. Byte-exact against the protocol's test vectors (§8.2-8.4).
//   * standard_client_framing()  – what our client sends: RFC 7845 granules (48 kHz units),
//     pre-skip = the encoder's real look-ahead at 48 kHz (opus_pre_skip_48k), vendor
//     "podium-voices". opusinfo validates it and opusdec decodes it.
//
// Reader: incremental; bytes may arrive split or batched at any boundary. libogg's ogg_sync_*
// captures pages and checks CRCs; on top of it the reader applies the PersonaPlex server's strict
// rules (libogg alone silently resyncs after a bad CRC): a page that starts with "OggS" but fails
// its CRC, a first page of a serial without BOS (or starting with a continued packet), a second BOS
// for a live serial, a continued flag that disagrees with the previous page, or a version other
// than 0 is an OggError. Junk before/between pages is skipped (counted) up to max_resync_bytes in
// a row, then no_capture_pattern. Sequence numbers and granules are not checked (as the server);
// a sequence gap is counted in stats().holes. OpusHead/OpusTags packets are skipped (contents
// ignored, as the server); every other packet is decoded at decode_rate_hz (pre-skip not applied).
// A new logical stream (chained BOS) resets the decoder; an EOS page closes its stream (a later
// BOS may reuse the serial); more than 16 streams open at once is an invalid_page error (bounded
// memory against a peer that keeps opening serials). The first error puts the reader in a failed
// state and is reported again by every later call (never a crash on garbage).
//
// Threading: a writer or reader belongs to one thread/strand at a time (util::ThreadOwner, debug
// builds; a moved-to object re-binds on first use). ogg_crc32 is stateless.

#include "audio/opus_codec.hpp"

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include <tl/expected.hpp>

namespace pv::audio {

// CRC-32 as used by Ogg: poly 0x04C11DB7, init 0, no reflection, no final xor (computed by
// libogg). ogg_crc32("123456789") == 0x89A1897F.
uint32_t ogg_crc32(std::span<const uint8_t> bytes);

// OpusHead pre-skip for an encoder with `lookahead_samples` at `codec_rate_hz`, in 48 kHz samples
// (RFC 7845 §4.2): 156 at 24 kHz -> 312.
constexpr uint16_t opus_pre_skip_48k(int lookahead_samples, int codec_rate_hz) {
  return static_cast<uint16_t>(static_cast<int64_t>(lookahead_samples) * 48000 / codec_rate_hz);
}

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

  // Page 0 (BOS, OpusHead) and page 1 (OpusTags), each a complete page. Call each once, in this
  // order, before the first packet_page (asserted).
  std::vector<uint8_t> head_page();
  std::vector<uint8_t> tags_page();

  // Wraps one Opus packet holding `samples_at_codec_rate` samples in its own page and writes the
  // page bytes to `out` (cleared first; no allocation once `out` has capacity). Granule advances
  // by the packet's duration (exact over time in either unit). The packet must not be empty
  // (asserted: a zero-length packet means "lost" to a decoder). After an end_of_stream page the
  // writer is finished (further calls are asserted).
  void packet_page(std::span<const uint8_t> packet, int samples_at_codec_rate,
                   std::vector<uint8_t>& out, bool end_of_stream = false);

  uint32_t serial() const { return params_.serial; }
  const OggOpusWriterParams& params() const { return params_; }
  int64_t pages_written() const;
  // Granule position of the last page written.
  int64_t granule() const;

private:
  struct Impl;
  OggOpusWriterParams params_;
  std::unique_ptr<Impl> impl_;
};

enum class OggErrorKind {
  no_capture_pattern, // more than max_resync_bytes searched without finding "OggS"
  crc_mismatch,       // a page's CRC is wrong
  missing_bos,        // first page of a logical stream lacks the BOS flag
  duplicate_bos,      // a second BOS for a serial already seen
  continued_mismatch, // continued-packet flag inconsistent with the previous page
  invalid_page,       // bad version / header fields
  opus_decode,        // libopus rejected a packet
};

const char* to_string(OggErrorKind kind);

struct OggError {
  OggErrorKind kind;
  std::string message;
};

struct OggOpusReaderParams {
  int decode_rate_hz = 24000;
  std::size_t max_resync_bytes = 150 * 1024; // like the real server's reader
  bool decode_audio = true;                  // false: demux only (packets are counted, not decoded)
};

struct OggOpusReaderStats {
  int64_t pages = 0;
  int64_t header_packets = 0;
  int64_t audio_packets = 0;
  int64_t decoded_samples = 0;
  int64_t skipped_bytes = 0; // junk between pages
  int64_t holes = 0;         // page sequence gaps (packets lost upstream; not an error)
  int64_t streams = 0;       // logical streams started (BOS pages)
};

class OggOpusReader {
public:
  explicit OggOpusReader(const OggOpusReaderParams& params = {});
  OggOpusReader(OggOpusReader&&) noexcept;
  OggOpusReader& operator=(OggOpusReader&&) noexcept;
  ~OggOpusReader();

  // Feeds bytes; decoded mono PCM at decode_rate is appended to `pcm` (nothing is decoded when
  // params.decode_audio is false). Incomplete pages wait for more bytes. PCM of the pages before an
  // error is still appended. After an error every later call returns the same error.
  tl::expected<void, OggError> feed(std::span<const uint8_t> bytes, std::vector<int16_t>& pcm);

  // Demux-only variant: appends each complete audio packet (headers skipped) to `packets`.
  // Mixing feed() and feed_packets() on one reader is allowed (each packet goes to the caller).
  tl::expected<void, OggError> feed_packets(std::span<const uint8_t> bytes,
                                            std::vector<std::vector<uint8_t>>& packets);

  const OggOpusReaderStats& stats() const;
  bool failed() const;
  // The sticky error, if failed().
  const OggError* error() const;

private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

} // namespace pv::audio
