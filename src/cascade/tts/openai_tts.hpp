#pragma once
// TTS_PROVIDER=openai: OpenAI's speech endpoint or a compatible server (Kokoro-FastAPI,
// openedai-speech, LocalAI...).
//
// Request: POST {TTS_BASE_URL}/audio/speech, JSON {model, voice, input, response_format: "pcm",
// speed}; `Authorization: Bearer <OPENAI_API_KEY>` only when a key is set. Response: raw mono s16le
// PCM at 24 kHz (OpenAI's fixed "pcm" rate; params.sample_rate_hz for servers that differ),
// streamed: each network chunk goes to the sink as it arrives, tagged with its rate, odd byte
// counts rejoined across chunks; a WAV or JSON body is refused (protocol).
// Voice options: speed = rate_percent / 100 (OpenAI accepts 0.25..4); the API has no pitch
// control, so pitch_percent is ignored. `voice` = the persona's openaiVoice or OPENAI_TTS_VOICE;
// a Google/Azure-style name ("en-US-...") is refused as bad_input.
// Errors, timeout (request.timeout, whole call) and cancellation: see tts_http.hpp.
//
// Thread-safety: synthesize() may run concurrently (one HTTP worker thread per provider).

#include "cascade/http/http_support.hpp"
#include "cascade/tts/tts_provider.hpp"

#include <chrono>
#include <memory>
#include <string>

namespace pv::cascade {

struct OpenAiTtsParams {
  std::string base_url = "https://api.openai.com/v1"; // TTS_BASE_URL
  std::string api_key;                                // OPENAI_API_KEY; empty: no Authorization
  std::string model = "tts-1";                        // OPENAI_TTS_MODEL
  std::string voice = "alloy";                        // OPENAI_TTS_VOICE
  int sample_rate_hz = 24000;                         // of the "pcm" response format
  std::chrono::milliseconds connect_timeout{5000};
};

class OpenAiTts final : public TtsProvider {
public:
  static tl::expected<std::unique_ptr<OpenAiTts>, ProviderError> create(OpenAiTtsParams params);
  ~OpenAiTts() override;

  std::string_view name() const override { return "openai"; }
  tl::expected<TtsResult, ProviderError> synthesize(const TtsRequest& request,
                                                    const TtsChunkSink& sink) override;

  // The JSON body synthesize() sends (exposed for tests and docs).
  tl::expected<std::string, ProviderError> request_body(const TtsRequest& request) const;

private:
  OpenAiTts(OpenAiTtsParams params, http::ProviderHttp http);

  OpenAiTtsParams params_;
  http::ProviderHttp http_;
};

} // namespace pv::cascade
