#include "audio/opus_codec.hpp"

#include "util/thread_owner.hpp"

#include <opus/opus.h>

#include <array>

namespace pv::audio {
namespace {

// RFC 6716 §3.2.1: a 120 ms code-3 packet holds at most 1275 bytes per frame; 4000 is the size
// the libopus documentation recommends for the output buffer.
constexpr std::size_t kMaxPacketBytes = 4000;

OpusError make_error(int code, const std::string& context) {
  return OpusError{code, context + ": " + opus_strerror(code)};
}

bool valid_rate(int hz) {
  return hz == 8000 || hz == 12000 || hz == 16000 || hz == 24000 || hz == 48000;
}

// Opus frames are 2.5, 5, 10, 20, 40, 60, 80, 100 or 120 ms.
bool valid_frame(std::size_t samples, int rate) {
  auto const quantum = static_cast<std::size_t>(rate / 400); // 2.5 ms
  if (samples == 0 || samples % quantum != 0) {
    return false;
  }
  std::size_t const units = samples / quantum;
  return units == 1 || units == 2 || units == 4 || (units % 8 == 0 && units <= 48);
}

} // namespace

tl::expected<int, OpusError> opus_packet_samples(std::span<const uint8_t> packet,
                                                 int sample_rate_hz) {
  if (packet.empty()) {
    return tl::unexpected(make_error(OPUS_INVALID_PACKET, "empty Opus packet"));
  }
  if (!valid_rate(sample_rate_hz)) {
    return tl::unexpected(
        make_error(OPUS_BAD_ARG, "unsupported Opus rate " + std::to_string(sample_rate_hz)));
  }
  // opus_packet_get_nb_samples reads only the TOC and frame count; opus_packet_parse also checks
  // that the frame lengths fit the packet.
  unsigned char toc = 0;
  std::array<const unsigned char*, 48> frames{};
  std::array<opus_int16, 48> sizes{};
  int const parsed = opus_packet_parse(packet.data(), static_cast<opus_int32>(packet.size()), &toc,
                                       frames.data(), sizes.data(), nullptr);
  if (parsed < 0) {
    return tl::unexpected(make_error(parsed, "invalid Opus packet"));
  }
  int const n = opus_packet_get_nb_samples(packet.data(), static_cast<opus_int32>(packet.size()),
                                           sample_rate_hz);
  if (n < 0) {
    return tl::unexpected(make_error(n, "invalid Opus packet"));
  }
  if (n == 0) { // a code-3 packet announcing zero frames
    return tl::unexpected(make_error(OPUS_INVALID_PACKET, "Opus packet holds no frames"));
  }
  if (n > opus_max_packet_samples(sample_rate_hz)) {
    return tl::unexpected(make_error(OPUS_INVALID_PACKET, "Opus packet longer than 120 ms"));
  }
  return n;
}

// --- encoder ---------------------------------------------------------------------------------

struct OpusEncoder::Impl {
  ::OpusEncoder* enc = nullptr;
  int lookahead = 0;
  util::ThreadOwner owner;

  ~Impl() {
    if (enc != nullptr) {
      opus_encoder_destroy(enc);
    }
  }
};

tl::expected<OpusEncoder, OpusError> OpusEncoder::create(const OpusEncoderParams& params) {
  if (!valid_rate(params.sample_rate_hz)) {
    return tl::unexpected(make_error(OPUS_BAD_ARG, "Opus encoder rate " +
                                                       std::to_string(params.sample_rate_hz) +
                                                       " (need 8000/12000/16000/24000/48000)"));
  }
  if (params.complexity < -1 || params.complexity > 10) {
    return tl::unexpected(make_error(
        OPUS_BAD_ARG, "Opus complexity " + std::to_string(params.complexity) + " (need 0..10)"));
  }
  // libopus silently clamps out-of-range bitrates; a typo should be an error instead.
  if (params.bitrate_bps != 0 && (params.bitrate_bps < 500 || params.bitrate_bps > 512000)) {
    return tl::unexpected(make_error(OPUS_BAD_ARG, "Opus bitrate " +
                                                       std::to_string(params.bitrate_bps) +
                                                       " bit/s (need 0 = auto, or 500..512000)"));
  }
  int err = OPUS_OK;
  auto impl = std::make_unique<Impl>();
  impl->enc = opus_encoder_create(
      params.sample_rate_hz, 1, params.voip ? OPUS_APPLICATION_VOIP : OPUS_APPLICATION_AUDIO, &err);
  if (impl->enc == nullptr || err != OPUS_OK) {
    return tl::unexpected(make_error(err, "opus_encoder_create"));
  }
  if (params.complexity >= 0) {
    err = opus_encoder_ctl(impl->enc, OPUS_SET_COMPLEXITY(params.complexity));
    if (err != OPUS_OK) {
      return tl::unexpected(make_error(err, "OPUS_SET_COMPLEXITY"));
    }
  }
  err = opus_encoder_ctl(impl->enc,
                         OPUS_SET_BITRATE(params.bitrate_bps > 0 ? params.bitrate_bps : OPUS_AUTO));
  if (err != OPUS_OK) {
    return tl::unexpected(
        make_error(err, "OPUS_SET_BITRATE " + std::to_string(params.bitrate_bps)));
  }
  opus_int32 lookahead = 0;
  err = opus_encoder_ctl(impl->enc, OPUS_GET_LOOKAHEAD(&lookahead));
  if (err != OPUS_OK) {
    return tl::unexpected(make_error(err, "OPUS_GET_LOOKAHEAD"));
  }
  impl->lookahead = lookahead;
  return OpusEncoder(params, std::move(impl));
}

OpusEncoder::OpusEncoder(const OpusEncoderParams& params, std::unique_ptr<Impl> impl)
    : params_(params), impl_(std::move(impl)) {}

OpusEncoder::OpusEncoder(OpusEncoder&& other) noexcept
    : params_(other.params_), impl_(std::move(other.impl_)) {
  if (impl_) {
    impl_->owner.release();
  }
}

OpusEncoder& OpusEncoder::operator=(OpusEncoder&& other) noexcept {
  params_ = other.params_;
  impl_ = std::move(other.impl_);
  if (impl_) {
    impl_->owner.release();
  }
  return *this;
}

OpusEncoder::~OpusEncoder() = default;

tl::expected<void, OpusError> OpusEncoder::encode(std::span<const int16_t> pcm,
                                                  std::vector<uint8_t>& packet) {
  PV_ASSERT_OWNER(impl_->owner);
  if (!valid_frame(pcm.size(), params_.sample_rate_hz)) {
    packet.clear();
    return tl::unexpected(make_error(
        OPUS_BAD_ARG, "opus_encode of " + std::to_string(pcm.size()) + " samples at " +
                          std::to_string(params_.sample_rate_hz) + " Hz (need 2.5..120 ms)"));
  }
  packet.resize(kMaxPacketBytes);
  opus_int32 const n = opus_encode(impl_->enc, pcm.data(), static_cast<int>(pcm.size()),
                                   packet.data(), static_cast<opus_int32>(packet.size()));
  if (n < 0) {
    packet.clear();
    return tl::unexpected(make_error(n, "opus_encode of " + std::to_string(pcm.size()) +
                                            " samples at " +
                                            std::to_string(params_.sample_rate_hz) + " Hz"));
  }
  packet.resize(static_cast<std::size_t>(n));
  return {};
}

int OpusEncoder::lookahead_samples() const {
  return impl_->lookahead;
}

// --- decoder ---------------------------------------------------------------------------------

struct OpusDecoder::Impl {
  ::OpusDecoder* dec = nullptr;
  util::ThreadOwner owner;

  ~Impl() {
    if (dec != nullptr) {
      opus_decoder_destroy(dec);
    }
  }
};

tl::expected<OpusDecoder, OpusError> OpusDecoder::create(int sample_rate_hz) {
  if (!valid_rate(sample_rate_hz)) {
    return tl::unexpected(make_error(OPUS_BAD_ARG, "Opus decoder rate " +
                                                       std::to_string(sample_rate_hz) +
                                                       " (need 8000/12000/16000/24000/48000)"));
  }
  int err = OPUS_OK;
  auto impl = std::make_unique<Impl>();
  impl->dec = opus_decoder_create(sample_rate_hz, 1, &err);
  if (impl->dec == nullptr || err != OPUS_OK) {
    return tl::unexpected(make_error(err, "opus_decoder_create"));
  }
  return OpusDecoder(sample_rate_hz, std::move(impl));
}

OpusDecoder::OpusDecoder(int rate, std::unique_ptr<Impl> impl)
    : rate_(rate), impl_(std::move(impl)) {}

OpusDecoder::OpusDecoder(OpusDecoder&& other) noexcept
    : rate_(other.rate_), impl_(std::move(other.impl_)) {
  if (impl_) {
    impl_->owner.release();
  }
}

OpusDecoder& OpusDecoder::operator=(OpusDecoder&& other) noexcept {
  rate_ = other.rate_;
  impl_ = std::move(other.impl_);
  if (impl_) {
    impl_->owner.release();
  }
  return *this;
}

OpusDecoder::~OpusDecoder() = default;

tl::expected<int, OpusError> OpusDecoder::decode(std::span<const uint8_t> packet,
                                                 std::vector<int16_t>& pcm) {
  PV_ASSERT_OWNER(impl_->owner);
  auto samples = opus_packet_samples(packet, rate_);
  if (!samples) {
    return tl::unexpected(samples.error());
  }
  std::size_t const base = pcm.size();
  pcm.resize(base + static_cast<std::size_t>(*samples));
  int const n = opus_decode(impl_->dec, packet.data(), static_cast<opus_int32>(packet.size()),
                            pcm.data() + base, *samples, 0);
  if (n < 0) {
    pcm.resize(base);
    return tl::unexpected(
        make_error(n, "opus_decode of a " + std::to_string(packet.size()) + "-byte packet"));
  }
  pcm.resize(base + static_cast<std::size_t>(n));
  return n;
}

tl::expected<int, OpusError> OpusDecoder::packet_samples(std::span<const uint8_t> packet) const {
  return opus_packet_samples(packet, rate_);
}

void OpusDecoder::reset() {
  PV_ASSERT_OWNER(impl_->owner);
  opus_decoder_ctl(impl_->dec, OPUS_RESET_STATE);
}

} // namespace pv::audio
