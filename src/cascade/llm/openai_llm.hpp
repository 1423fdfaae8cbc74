#pragma once
// MODEL_PROVIDER=openai: any OpenAI-compatible Chat Completions server, streamed over SSE
// (OpenAI, llama.cpp `llama-server`, vLLM, Ollama at http://127.0.0.1:11434/v1, LM Studio...).
//
// Request: POST {LLM_BASE_URL}/chat/completions, JSON {model, messages: [{role, content}],
// max_tokens, stream: true}; `Authorization: Bearer <OPENAI_API_KEY>` only when a key is set
// (local servers need none). Response: `text/event-stream` of `data: {json}` events; the text is
// choices[0].delta.content, the end is `data: [DONE]` (finish_reason "length" -> max_tokens).
// Tolerated: comment/keep-alive lines, role-only first deltas, chunks with empty `choices`
// (usage, Azure prompt filters), a server that ignores `stream` and answers one JSON completion.
//
// Deadlines (LlmProvider contract) are enforced while the body streams, on the calling thread:
// first token (request.first_token_timeout), total (request.total_timeout) and the gap between
// two text pieces (params.idle_timeout, LLM_IDLE_TIMEOUT_MS): keep-alives do not count as
// progress. Cancellation is noticed within ~5 ms and closes the connection.
// Errors: auth (401/403), rate_limited (429, with retry_after), http (other statuses, with the
// server's message), disconnected (refused, reset, or the stream ended without [DONE] or a
// finish_reason), protocol (an event that is not the expected JSON), first_token_timeout,
// timeout, cancelled. The key never appears in an error or a log line.
//
// Thread-safety: generate() may run concurrently from several threads (one HTTP client worker
// thread per provider carries all transfers; each call's parsing and sink run on its caller).

#include "cascade/http/http_support.hpp"
#include "cascade/llm/llm_provider.hpp"

#include <chrono>
#include <memory>
#include <string>

namespace pv::cascade {

struct OpenAiLlmParams {
  std::string base_url = "https://api.openai.com/v1"; // LLM_BASE_URL
  std::string api_key;                                // OPENAI_API_KEY; empty: no Authorization
  std::string model = "gpt-4o-mini";                  // OPENAI_MODEL_NAME
  std::chrono::milliseconds idle_timeout{5000};       // LLM_IDLE_TIMEOUT_MS: between text pieces
  std::chrono::milliseconds connect_timeout{5000};    // TCP + TLS
};

class OpenAiLlm final : public LlmProvider {
public:
  static tl::expected<std::unique_ptr<OpenAiLlm>, ProviderError> create(OpenAiLlmParams params);
  ~OpenAiLlm() override;

  std::string_view name() const override { return "openai"; }
  bool is_language_model() const override { return true; }
  tl::expected<LlmResult, ProviderError> generate(const LlmRequest& request,
                                                  const TokenSink& sink) override;

  // The JSON body generate() sends (exposed for tests and docs).
  std::string request_body(const LlmRequest& request) const;

private:
  OpenAiLlm(OpenAiLlmParams params, http::ProviderHttp http);

  OpenAiLlmParams params_;
  http::ProviderHttp http_;
};

} // namespace pv::cascade
