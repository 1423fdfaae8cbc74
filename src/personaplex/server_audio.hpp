#pragma once
// The receive side of a session: the server's 0x01 payloads (Ogg pages carrying 80 ms Opus
// packets at 24 kHz, protocol §3.2) -> strict Ogg demux + Opus decode (24 kHz) -> a streaming
// 24k -> 48k resampler (state kept across packets: no clicks at packet boundaries) -> a playout
// buffer.
//
// Strictness: the server sends whole pages only, so bytes outside any page (which a lenient Ogg
// reader would skip) are an error like a bad CRC or a missing BOS; the first error is sticky.
//
// Owner: one thread (the session's io thread; the reader and resampler check it in debug
// builds). No allocation per page once the first page has been decoded.

#include "audio/ogg_opus.hpp"
#include "audio/playout_buffer.hpp"
#include "audio/resampler.hpp"

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <tl/expected.hpp>

namespace pv::personaplex {

class ServerAudioDecoder {
public:
  static tl::expected<ServerAudioDecoder, std::string> create(double audible_threshold_dbfs);

  struct Decoded {
    std::size_t samples_24k = 0; // 0 for header pages
    bool audible = false;        // the decoded audio's level is above the threshold
  };

  // Decodes one payload and pushes the 48 kHz audio into `playout`.
  tl::expected<Decoded, audio::OggError> feed(std::span<const uint8_t> ogg,
                                              audio::PlayoutBuffer& playout);

  const audio::OggOpusReaderStats& stats() const { return reader_.stats(); }

private:
  ServerAudioDecoder(audio::StreamResampler upsampler, double audible_threshold_dbfs);

  audio::OggOpusReader reader_;
  audio::StreamResampler upsampler_; // 24 kHz -> 48 kHz
  double threshold_dbfs_;
  std::optional<audio::OggError> error_; // sticky
  std::vector<int16_t> pcm24_;
  std::vector<int16_t> pcm48_;
};

} // namespace pv::personaplex
