#pragma once
// ASR_PROVIDER=openai: any OpenAI-compatible `/audio/transcriptions` endpoint (OpenAI Whisper,
// faster-whisper servers such as speaches, whisper.cpp `whisper-server` started with
// `--inference-path /v1/audio/transcriptions`, vLLM, LocalAI...).
//
// The API is batch only, so a session cannot stream (capabilities().streaming == false): push()
// buffers the utterance's PCM (bounded by params.max_audio_ms), and finish() uploads it as one
// WAV (mono s16 at the pushed rate) in a multipart/form-data POST to
// {ASR_BASE_URL}/audio/transcriptions with the parts `file` (utterance.wav, audio/wav), `model`
// (ASR_MODEL), `response_format` = json and, when params.language is not empty, `language`.
// `Authorization: Bearer <OPENAI_API_KEY>` only when a key is set (self-hosted servers need none).
// The answer {"text": "..."} gives Transcript::text (surrounding whitespace trimmed). An utterance
// with no audio gives an empty transcript without a request.
//
// finish() is bounded by params.timeout (ASR_TIMEOUT_MS: connect + upload + transcription) and
// returns `cancelled` within ~5 ms of params.cancel being set from any thread.
// Errors: auth (401/403), rate_limited (429 + retry_after), http (other statuses, with the
// server's message), disconnected, timeout, protocol (no `text` in the answer), cancelled,
// bad_input (too much audio, wrong rate, used after finish/cancel).
//
// Threading: the provider is thread-safe; a session belongs to one thread (see asr_provider.hpp).
// Sessions keep the provider's HTTP client alive, so they may outlive the provider.

#include "cascade/asr/asr_provider.hpp"
#include "cascade/http/http_support.hpp"

#include <chrono>
#include <memory>
#include <string>

namespace pv::cascade {

struct OpenAiAsrParams {
  std::string base_url = "https://api.openai.com/v1"; // ASR_BASE_URL
  std::string api_key;                                // OPENAI_API_KEY; empty: no Authorization
  std::string model = "whisper-1";                    // ASR_MODEL
  std::chrono::milliseconds connect_timeout{5000};
};

class OpenAiAsr final : public AsrProvider {
public:
  static tl::expected<std::unique_ptr<OpenAiAsr>, ProviderError> create(OpenAiAsrParams params);
  ~OpenAiAsr() override;

  std::string_view name() const override { return "openai"; }
  AsrCapabilities capabilities() const override { return {false, 16000}; }
  tl::expected<std::unique_ptr<AsrSession>, ProviderError>
  start_utterance(const AsrUtteranceParams& params) override;

  struct Shared; // the HTTP client and settings, shared with the sessions

private:
  explicit OpenAiAsr(std::shared_ptr<Shared> shared);
  std::shared_ptr<Shared> shared_;
};

} // namespace pv::cascade
