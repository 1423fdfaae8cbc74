#pragma once
// TTS_PROVIDER=google: Google Cloud Text-to-Speech REST v1 with an API key.
//
// Request: POST {GOOGLE_TTS_BASE_URL}/v1/text:synthesize with the key in the `X-Goog-Api-Key`
// header (never in the URL, where proxies and logs would keep it); JSON {input: {text},
// voice: {languageCode, name}, audioConfig: {audioEncoding: "LINEAR16", sampleRateHertz,
// speakingRate, pitch}}. Response: {"audioContent": base64}. For LINEAR16 that content is a WAV
// FILE (Google documents the header): it is parsed with audio::parse_wav and only its samples are
// delivered, at the rate the header states (the original played the 44 header bytes as audio: a
// click per sentence). The API does not stream: the sentence arrives whole and is handed to the
// sink in chunk_ms pieces (cancellation is checked between them), the last flagged `last`.
// Voice options: speakingRate = rate_percent / 100; pitch (semitones) = 12 * log2(1 + pitch /
// 100), clamped to Google's -20..20. `voice` = the persona's googleVoiceName or
// GOOGLE_TTS_VOICE_NAME; languageCode is its locale ("en-US" of "en-US-Neural2-D"); an Azure
// name or a plain OpenAI name is refused as bad_input.
// Errors: auth (401/403, and 400 API_KEY_INVALID), rate_limited (429 + retry_after), http
// (with Google's message), protocol (no audioContent, bad base64, malformed WAV), timeout
// (request.timeout, whole call), cancelled, disconnected.
//
// Thread-safety: synthesize() may run concurrently (one HTTP worker thread per provider).

#include "cascade/http/http_support.hpp"
#include "cascade/tts/tts_provider.hpp"

#include <chrono>
#include <memory>
#include <string>

namespace pv::cascade {

struct GoogleTtsParams {
  std::string base_url = "https://texttospeech.googleapis.com"; // GOOGLE_TTS_BASE_URL
  std::string api_key;                                          // GOOGLE_CLOUD_TTS_API_KEY
  std::string voice = "en-US-Neural2-D";                        // GOOGLE_TTS_VOICE_NAME
  int sample_rate_hz = 24000; // requested; the WAV header's rate is what is used
  int chunk_ms = 100;         // delivery granularity
  std::chrono::milliseconds connect_timeout{5000};
};

class GoogleTts final : public TtsProvider {
public:
  static tl::expected<std::unique_ptr<GoogleTts>, ProviderError> create(GoogleTtsParams params);
  ~GoogleTts() override;

  std::string_view name() const override { return "google"; }
  tl::expected<TtsResult, ProviderError> synthesize(const TtsRequest& request,
                                                    const TtsChunkSink& sink) override;

  // The JSON body synthesize() sends (exposed for tests and docs).
  tl::expected<std::string, ProviderError> request_body(const TtsRequest& request) const;

private:
  GoogleTts(GoogleTtsParams params, http::ProviderHttp http);

  GoogleTtsParams params_;
  http::ProviderHttp http_;
};

} // namespace pv::cascade
