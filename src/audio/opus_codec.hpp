#pragma once
// Thin RAII wrappers over libopus (mono).
//
// OpusEncoder – one frame (2.5..120 ms) in, one packet out. Any frame size libopus accepts works;
//               the live path uses 20 ms, the PersonaPlex server 80 ms (a multi-frame packet).
// OpusDecoder – any valid packet of 2.5..120 ms (any Opus mode/bandwidth, stereo packets are
//               down-mixed). Empty or malformed packets give an OpusError, never a crash; an empty
//               packet is refused (libopus would treat it as loss and synthesise concealment).
// Both keep their scratch buffers: after the first call, encode/decode into a vector that already
// has capacity does not allocate.
//
// Threading: each object belongs to one thread at a time (util::ThreadOwner, checked in debug
// builds; a moved-to object re-binds on first use).

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include <tl/expected.hpp>

namespace pv::audio {

struct OpusEncoderParams {
  int sample_rate_hz = 24000;
  bool voip = true;   // OPUS_APPLICATION_VOIP (as the PersonaPlex server); false = AUDIO
  int complexity = 5; // 0..10; -1 keeps the libopus default (9 in 1.3.1, as the PersonaPlex server)
  int bitrate_bps = 0; // 0 = OPUS_AUTO, else 500..512000
};

struct OpusError {
  int code;            // libopus error code (OPUS_BAD_ARG, OPUS_INVALID_PACKET, ...)
  std::string message; // opus_strerror + context
};

// Samples in `packet` at `sample_rate_hz` (via opus_packet_get_nb_samples), or an error for an
// empty packet, a malformed one (opus_packet_parse), no frames, or more than 120 ms. Stateless.
tl::expected<int, OpusError> opus_packet_samples(std::span<const uint8_t> packet,
                                                 int sample_rate_hz);

// Largest packet duration Opus allows (120 ms), in samples at `sample_rate_hz`.
constexpr int opus_max_packet_samples(int sample_rate_hz) {
  return sample_rate_hz * 120 / 1000;
}

class OpusEncoder {
public:
  static tl::expected<OpusEncoder, OpusError> create(const OpusEncoderParams& params);
  OpusEncoder(OpusEncoder&&) noexcept;
  OpusEncoder& operator=(OpusEncoder&&) noexcept;
  ~OpusEncoder();

  // Encodes one frame (2.5..120 ms of samples at the encoder rate) into `packet` (resized to the
  // packet's length). Any other length is an OPUS_BAD_ARG error.
  tl::expected<void, OpusError> encode(std::span<const int16_t> pcm, std::vector<uint8_t>& packet);
  // Encoder look-ahead in samples at the encoder rate (156 at 24 kHz with libopus 1.3.1).
  int lookahead_samples() const;
  int sample_rate() const { return params_.sample_rate_hz; }
  const OpusEncoderParams& params() const { return params_; }

private:
  struct Impl;
  OpusEncoder(const OpusEncoderParams& params, std::unique_ptr<Impl> impl);
  OpusEncoderParams params_;
  std::unique_ptr<Impl> impl_;
};

class OpusDecoder {
public:
  static tl::expected<OpusDecoder, OpusError> create(int sample_rate_hz);
  OpusDecoder(OpusDecoder&&) noexcept;
  OpusDecoder& operator=(OpusDecoder&&) noexcept;
  ~OpusDecoder();

  // Decodes one packet and appends its samples to `pcm`. Returns the number of samples appended.
  // On error nothing is appended.
  tl::expected<int, OpusError> decode(std::span<const uint8_t> packet, std::vector<int16_t>& pcm);
  // Number of samples a packet holds at this decoder's rate, or an error for an invalid packet.
  tl::expected<int, OpusError> packet_samples(std::span<const uint8_t> packet) const;
  // Forgets the decoder state (a new, unrelated stream follows).
  void reset();
  int sample_rate() const { return rate_; }

private:
  struct Impl;
  OpusDecoder(int rate, std::unique_ptr<Impl> impl);
  int rate_;
  std::unique_ptr<Impl> impl_;
};

} // namespace pv::audio
