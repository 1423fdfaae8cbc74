#include "cascade/tts/openai_tts.hpp"

#include "cascade/tts/tts_http.hpp"
#include "log/log.hpp"
#include "net/http_client.hpp"

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
  auto client = http::make_client("tts-openai");
  if (!client) {
    return tl::unexpected(client.error());
  }
  if (!params.api_key.empty()) {
    pv::log::add_secret(params.api_key);
  }
  return std::unique_ptr<OpenAiTts>(new OpenAiTts(std::move(params), std::move(*client)));
}

OpenAiTts::OpenAiTts(OpenAiTtsParams params, std::unique_ptr<net::HttpClient> client)
    : params_(std::move(params)), client_(std::move(client)) {
  if (!params_.api_key.empty()) {
    secrets_.push_back(params_.api_key);
  }
}

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
  if (auto valid = validate_tts_request(request); !valid) {
    return tl::unexpected(valid.error());
  }
  auto body = request_body(request);
  if (!body) {
    return tl::unexpected(body.error());
  }
  if (request.cancel.cancelled()) {
    return tl::unexpected(make_error(ProviderErrorKind::cancelled, "openai TTS: cancelled"));
  }
  net::HttpRequest http_request;
  http_request.method = "POST";
  http_request.url = http::join_url(params_.base_url, "audio/speech");
  http_request.headers = {{"Content-Type", "application/json"}};
  if (!params_.api_key.empty()) {
    http_request.headers.push_back({"Authorization", "Bearer " + params_.api_key});
  }
  http_request.body = std::move(*body);
  http_request.timeouts.connect_ms =
      static_cast<int>(std::min(params_.connect_timeout, request.timeout).count());

  http::TtsHttpParams transfer;
  transfer.what = kWhat;
  transfer.secrets = &secrets_;
  return http::run_pcm_stream(*client_, std::move(http_request), request, sink,
                              params_.sample_rate_hz, transfer);
}

} // namespace pv::cascade
