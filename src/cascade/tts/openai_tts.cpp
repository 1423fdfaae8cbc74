#include "cascade/tts/openai_tts.hpp"

#include "cascade/tts/tts_http.hpp"
#include "net/http_client.hpp"

#include <algorithm>

#include <nlohmann/json.hpp>

namespace pv::cascade {

namespace {

using nlohmann::json;

constexpr const char* kWhat = "openai TTS";

} // namespace

tl::expected<std::unique_ptr<OpenAiTts>, ProviderError> OpenAiTts::create(OpenAiTtsParams params) {
  if (auto ok = http::check_base_url(params.base_url, "TTS_BASE_URL"); !ok) {
    return tl::unexpected(ok.error());
  }
  if (params.model.empty()) {
    return tl::unexpected(make_error(ProviderErrorKind::config, "OPENAI_TTS_MODEL is empty"));
  }
  if (!http::is_plain_voice_name(params.voice)) {
    return tl::unexpected(make_error(ProviderErrorKind::config,
                                     "OPENAI_TTS_VOICE='" + params.voice +
                                         "' is not an OpenAI voice name (e.g. alloy, onyx)"));
  }
  if (params.sample_rate_hz < 8000 || params.sample_rate_hz > 48000 ||
      params.connect_timeout.count() <= 0) {
    return tl::unexpected(
        make_error(ProviderErrorKind::config, "openai TTS: bad sample rate or connect timeout"));
  }
  auto http = http::make_provider_http("tts-openai", params.api_key);
  if (!http) {
    return tl::unexpected(http.error());
  }
  return std::unique_ptr<OpenAiTts>(new OpenAiTts(std::move(params), std::move(*http)));
}

OpenAiTts::OpenAiTts(OpenAiTtsParams params, http::ProviderHttp http)
    : params_(std::move(params)), http_(std::move(http)) {}

OpenAiTts::~OpenAiTts() = default;

tl::expected<std::string, ProviderError> OpenAiTts::request_body(const TtsRequest& request) const {
  const std::string& voice = request.voice.voice.empty() ? params_.voice : request.voice.voice;
  if (!http::is_plain_voice_name(voice)) {
    return tl::unexpected(make_error(ProviderErrorKind::bad_input,
                                     "openai TTS: '" + voice +
                                         "' is not an OpenAI voice name (a Google or Azure "
                                         "voice is never sent to OpenAI)"));
  }
  const json body = {{"model", params_.model},
                     {"voice", voice},
                     {"input", request.text},
                     {"response_format", "pcm"},
                     {"speed", request.voice.rate_percent / 100.0}};
  return body.dump(-1, ' ', false, json::error_handler_t::replace);
}

tl::expected<TtsResult, ProviderError> OpenAiTts::synthesize(const TtsRequest& request,
                                                             const TtsChunkSink& sink) {
  auto body = http::checked_body(request, request_body(request), kWhat);
  if (!body) {
    return tl::unexpected(body.error());
  }
  net::HttpRequest http_request = http::post_request(
      http::join_url(params_.base_url, "audio/speech"), {{"Content-Type", "application/json"}},
      std::move(*body), std::min(params_.connect_timeout, request.timeout));
  http::add_bearer(http_request, params_.api_key);

  http::TtsHttpParams transfer;
  transfer.what = kWhat;
  transfer.secrets = &http_.secrets;
  return http::run_pcm_stream(*http_.client, std::move(http_request), request, sink,
                              params_.sample_rate_hz, transfer);
}

} // namespace pv::cascade
