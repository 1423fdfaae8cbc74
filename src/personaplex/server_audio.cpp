#include "personaplex/server_audio.hpp"

#include "audio/mixer.hpp"

namespace pv::personaplex {

tl::expected<ServerAudioDecoder, std::string>
ServerAudioDecoder::create(double audible_threshold_dbfs) {
  auto upsampler = audio::StreamResampler::create(
      audio::ResamplerParams{audio::kPersonaPlexRateHz, audio::kRoomRateHz, 5});
  if (!upsampler) {
    return tl::unexpected("resampler: " + upsampler.error());
  }
  return ServerAudioDecoder(std::move(*upsampler), audible_threshold_dbfs);
}

ServerAudioDecoder::ServerAudioDecoder(audio::StreamResampler upsampler,
                                       double audible_threshold_dbfs)
    : reader_(audio::OggOpusReaderParams{audio::kPersonaPlexRateHz, 150 * 1024, true}),
      upsampler_(std::move(upsampler)), threshold_dbfs_(audible_threshold_dbfs) {
  pcm24_.reserve(
      static_cast<std::size_t>(audio::opus_max_packet_samples(audio::kPersonaPlexRateHz)));
  pcm48_.reserve(static_cast<std::size_t>(audio::opus_max_packet_samples(audio::kRoomRateHz)) + 64);
}

tl::expected<ServerAudioDecoder::Decoded, audio::OggError>
ServerAudioDecoder::feed(std::span<const uint8_t> ogg, audio::PlayoutBuffer& playout) {
  if (error_) {
    return tl::unexpected(*error_);
  }
  pcm24_.clear();
  const int64_t skipped_before = reader_.stats().skipped_bytes;
  if (auto fed = reader_.feed(ogg, pcm24_); !fed) {
    error_ = fed.error();
    return tl::unexpected(*error_);
  }
  if (const int64_t skipped = reader_.stats().skipped_bytes - skipped_before; skipped != 0) {
    error_ = audio::OggError{audio::OggErrorKind::no_capture_pattern,
                             "ogg: " + std::to_string(skipped) + " bytes outside any Ogg page"};
    return tl::unexpected(*error_);
  }
  Decoded decoded;
  decoded.samples_24k = pcm24_.size();
  if (pcm24_.empty()) {
    return decoded; // a header page
  }
  decoded.audible = audio::rms_dbfs(pcm24_) > threshold_dbfs_;
  pcm48_.clear();
  upsampler_.process(pcm24_, pcm48_);
  playout.push(pcm48_);
  return decoded;
}

} // namespace pv::personaplex
