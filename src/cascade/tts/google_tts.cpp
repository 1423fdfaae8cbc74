#include "cascade/tts/google_tts.hpp"

#include "audio/wav.hpp"
#include "cascade/tts/tts_http.hpp"
#include "net/http_client.hpp"

#include <algorithm>
#include <cmath>

#include <nlohmann/json.hpp>

namespace pv::cascade {

namespace {

using nlohmann::json;

constexpr const char* kWhat = "google TTS";
constexpr std::size_t kMaxAnswerBytes = 48u << 20; // ~4000 chars of speech at 48 kHz, base64

double semitones(int pitch_percent) {
  const double st = 12.0 * std::log2(1.0 + pitch_percent / 100.0);
  return std::clamp(std::round(st * 100.0) / 100.0, -20.0, 20.0);
}

} // namespace

tl::expected<std::unique_ptr<GoogleTts>, ProviderError> GoogleTts::create(GoogleTtsParams params) {
  if (auto ok = http::check_base_url(params.base_url, "GOOGLE_TTS_BASE_URL"); !ok) {
    return tl::unexpected(ok.error());
  }
  if (params.api_key.empty()) {
    return tl::unexpected(make_error(ProviderErrorKind::config,
                                     "TTS_PROVIDER=google needs GOOGLE_CLOUD_TTS_API_KEY"));
  }
  if (!http::is_google_voice_name(params.voice)) {
    return tl::unexpected(make_error(ProviderErrorKind::config,
                                     "GOOGLE_TTS_VOICE_NAME='" + params.voice +
                                         "' is not a Google voice name (e.g. en-US-Neural2-D)"));
  }
  if (params.sample_rate_hz < 8000 || params.sample_rate_hz > 48000 || params.chunk_ms <= 0 ||
      params.connect_timeout.count() <= 0) {
    return tl::unexpected(make_error(ProviderErrorKind::config,
                                     "google TTS: bad sample rate, chunk size or timeout"));
  }
  auto http = http::make_provider_http("tts-google", params.api_key);
  if (!http) {
    return tl::unexpected(http.error());
  }
  return std::unique_ptr<GoogleTts>(new GoogleTts(std::move(params), std::move(*http)));
}

GoogleTts::GoogleTts(GoogleTtsParams params, http::ProviderHttp http)
    : params_(std::move(params)), http_(std::move(http)) {}

GoogleTts::~GoogleTts() = default;

tl::expected<std::string, ProviderError> GoogleTts::request_body(const TtsRequest& request) const {
  const std::string& voice = request.voice.voice.empty() ? params_.voice : request.voice.voice;
  if (!http::is_google_voice_name(voice)) {
    return tl::unexpected(make_error(ProviderErrorKind::bad_input,
                                     "google TTS: '" + voice +
                                         "' is not a Google voice name (an Azure or OpenAI "
                                         "voice is never sent to Google)"));
  }
  const json body = {{"input", {{"text", request.text}}},
                     {"voice", {{"languageCode", http::voice_locale(voice)}, {"name", voice}}},
                     {"audioConfig",
                      {{"audioEncoding", "LINEAR16"},
                       {"sampleRateHertz", params_.sample_rate_hz},
                       {"speakingRate", request.voice.rate_percent / 100.0},
                       {"pitch", semitones(request.voice.pitch_percent)}}}};
  return body.dump(-1, ' ', false, json::error_handler_t::replace);
}

tl::expected<TtsResult, ProviderError> GoogleTts::synthesize(const TtsRequest& request,
                                                             const TtsChunkSink& sink) {
  const auto started = Clock::now();
  auto body = http::checked_body(request, request_body(request), kWhat);
  if (!body) {
    return tl::unexpected(body.error());
  }
  net::HttpRequest http_request = http::post_request(
      http::join_url(params_.base_url, "v1/text:synthesize"),
      {{"Content-Type", "application/json; charset=utf-8"}, {"X-Goog-Api-Key", params_.api_key}},
      std::move(*body), std::min(params_.connect_timeout, request.timeout));

  http::TtsHttpParams transfer;
  transfer.what = kWhat;
  transfer.secrets = &http_.secrets;
  transfer.on_http_error = [this](const net::HttpError& error) {
    ProviderError out = http::to_provider_error(error, kWhat, http_.secrets);
    // An invalid key is a 400 INVALID_ARGUMENT with reason API_KEY_INVALID, not a 401.
    if (error.kind == net::HttpErrorKind::http_status && error.status == 400 &&
        error.body_snippet.find("API_KEY_INVALID") != std::string::npos) {
      out.kind = ProviderErrorKind::auth;
      out.retryable = false;
    }
    return out;
  };
  auto answer =
      http::fetch_body(*http_.client, std::move(http_request), request, kMaxAnswerBytes, transfer);
  if (!answer) {
    return tl::unexpected(answer.error());
  }
  const json reply = json::parse(*answer, nullptr, false);
  const auto content = reply.is_object() ? reply.find("audioContent") : reply.end();
  if (reply.is_discarded() || !reply.is_object() || content == reply.end() ||
      !content->is_string()) {
    return tl::unexpected(
        make_error(ProviderErrorKind::protocol,
                   http::scrub(std::string(kWhat) + ": the answer has no audioContent: " +
                                   http::error_message_from_body(*answer, 120),
                               http_.secrets)));
  }
  auto wav = http::decode_base64(content->get_ref<const std::string&>());
  if (!wav) {
    return tl::unexpected(make_error(ProviderErrorKind::protocol,
                                     std::string(kWhat) + ": audioContent is not valid base64"));
  }
  auto pcm = audio::parse_wav(*wav, "google audioContent");
  if (!pcm) {
    return tl::unexpected(make_error(
        ProviderErrorKind::protocol,
        std::string(kWhat) + ": audioContent is not a usable WAV: " + pcm.error().message));
  }
  if (pcm->samples.empty()) {
    return tl::unexpected(
        make_error(ProviderErrorKind::protocol, std::string(kWhat) + ": the WAV holds no audio"));
  }
  TtsResult result;
  if (auto delivered = http::deliver_pcm(pcm->samples, pcm->sample_rate, params_.chunk_ms, request,
                                         sink, started, result, kWhat);
      !delivered) {
    return tl::unexpected(delivered.error());
  }
  result.total_ms = std::chrono::duration<double, std::milli>(Clock::now() - started).count();
  return result;
}

} // namespace pv::cascade
