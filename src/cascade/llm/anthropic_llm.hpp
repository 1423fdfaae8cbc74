#pragma once
// MODEL_PROVIDER=anthropic: the Anthropic Messages API, streamed over SSE.
//
// Request: POST {ANTHROPIC_BASE_URL}/v1/messages with `x-api-key` (when set),
// `anthropic-version: 2023-06-01` and `content-type: application/json`; JSON {model, max_tokens,
// stream: true, system, messages: [{role, content}]}. The API has no system role: every system
// message goes to the top-level `system` string; consecutive same-role messages are merged (the
// API rejects two user turns in a row) and a conversation that opens with the assistant gets a
// short user turn in front (it must start with a user turn).
// Response events: message_start, content_block_start, content_block_delta (text_delta -> the
// text; other delta types are ignored), content_block_stop, message_delta (stop_reason
// "max_tokens" -> FinishReason::max_tokens), message_stop (the end), ping (keep-alive, not
// progress) and error ({"error": {"type", "message"}}): overloaded_error and rate_limit_error ->
// rate_limited, authentication_error/permission_error -> auth, the rest -> http. HTTP 529
// (overloaded) is rate_limited too.
//
// Deadlines, cancellation, errors and threading as OpenAiLlm (see openai_llm.hpp).

#include "cascade/http/http_support.hpp"
#include "cascade/llm/llm_provider.hpp"

#include <chrono>
#include <memory>
#include <string>

namespace pv::cascade {

struct AnthropicLlmParams {
  std::string base_url = "https://api.anthropic.com"; // ANTHROPIC_BASE_URL
  std::string api_key;                                // ANTHROPIC_API_KEY
  std::string model = "claude-3-5-sonnet-20241022";   // ANTHROPIC_MODEL_NAME
  std::chrono::milliseconds idle_timeout{5000};       // LLM_IDLE_TIMEOUT_MS
  std::chrono::milliseconds connect_timeout{5000};
};

class AnthropicLlm final : public LlmProvider {
public:
  static tl::expected<std::unique_ptr<AnthropicLlm>, ProviderError>
  create(AnthropicLlmParams params);
  ~AnthropicLlm() override;

  std::string_view name() const override { return "anthropic"; }
  bool is_language_model() const override { return true; }
  tl::expected<LlmResult, ProviderError> generate(const LlmRequest& request,
                                                  const TokenSink& sink) override;

  // The JSON body generate() sends (exposed for tests and docs).
  std::string request_body(const LlmRequest& request) const;

  static constexpr const char* kApiVersion = "2023-06-01";

private:
  AnthropicLlm(AnthropicLlmParams params, http::ProviderHttp http);

  AnthropicLlmParams params_;
  http::ProviderHttp http_;
};

} // namespace pv::cascade
