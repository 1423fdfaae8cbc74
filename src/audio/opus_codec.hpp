#pragma once
// Thin RAII wrappers over libopus (mono).

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
  int complexity = 5; // 0..10
  int bitrate_bps = 0; // 0 = OPUS_AUTO
};

struct OpusError {
  int code;            // libopus error code
  std::string message; // opus_strerror + context
};

class OpusEncoder {
public:
  static tl::expected<OpusEncoder, OpusError> create(const OpusEncoderParams& params);
  OpusEncoder(OpusEncoder&&) noexcept;
  OpusEncoder& operator=(OpusEncoder&&) noexcept;
  ~OpusEncoder();

  // Encodes one frame (2.5..120 ms of samples at the encoder rate) into `packet` (resized).
  tl::expected<void, OpusError> encode(std::span<const int16_t> pcm, std::vector<uint8_t>& packet);
  // Encoder look-ahead in samples at the encoder rate.
  int lookahead_samples() const;
  int sample_rate() const { return params_.sample_rate_hz; }

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
  tl::expected<int, OpusError> decode(std::span<const uint8_t> packet, std::vector<int16_t>& pcm);
  // Number of samples a packet holds at this decoder's rate, or an error for an invalid packet.
  tl::expected<int, OpusError> packet_samples(std::span<const uint8_t> packet) const;
  int sample_rate() const { return rate_; }

private:
  struct Impl;
  OpusDecoder(int rate, std::unique_ptr<Impl> impl);
  int rate_;
  std::unique_ptr<Impl> impl_;
};

} // namespace pv::audio
