#pragma once
// The streaming loop shared by the SSE chat providers (openai, anthropic): sends the request,
// parses the event stream on the calling thread, hands text pieces to the caller's sink and
// enforces the LlmProvider contract (first-token, idle and total deadlines while streaming,
// cancellation, stop by the sink, typed errors). Each provider supplies only its wire format:
// how one SSE event (or a whole non-streamed JSON answer) turns into text pieces, an end marker,
// a finish reason or an error.
//
// Runs entirely on the calling thread (see http_stream.hpp for the hand-over from the HTTP
// worker).

#include "cascade/http/http_support.hpp"
#include "cascade/llm/llm_provider.hpp"
#include "net/http_client.hpp"
#include "net/sse.hpp"

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace pv::cascade::http {

// What the provider's event handler reports back.
struct LlmStreamState {
  std::vector<std::string> pieces;    // text to deliver, in order (cleared by the loop)
  std::optional<FinishReason> finish; // a finish/stop reason was announced
  bool done = false;                  // the stream's own end marker ([DONE], message_stop)
};

struct LlmWireFormat {
  // One SSE event; an error ends the call (already typed by the provider).
  std::function<tl::expected<void, ProviderError>(const net::SseEvent&, LlmStreamState&)> on_event;
  // A 2xx answer that is not an event stream (application/json): the whole body.
  std::function<tl::expected<void, ProviderError>(std::string_view body, LlmStreamState&)>
      on_json_body;
  // Maps an HTTP failure (a provider may refine the generic mapping, e.g. Anthropic's 529).
  std::function<ProviderError(const net::HttpError&)> on_http_error;
};

struct LlmStreamParams {
  std::chrono::milliseconds idle_timeout{5000}; // longest gap between two text pieces
  std::string what;                             // "openai LLM": prefixes messages
  const Secrets* secrets = nullptr;             // scrubbed from every message
  // After the end marker, how long to wait for the HTTP response to close cleanly (keeps the
  // connection reusable) before closing it ourselves.
  std::chrono::milliseconds close_grace{250};
};

// The settings checks of an HTTP LLM (OpenAiLlmParams, AnthropicLlmParams): an http(s) base URL
// and a model, named in messages by their settings, and positive timeouts.
template <class Params>
tl::expected<void, ProviderError> check_llm_params(const Params& params, std::string_view what,
                                                   std::string_view base_url_variable,
                                                   std::string_view model_variable) {
  if (auto ok = check_base_url(params.base_url, base_url_variable); !ok) {
    return ok;
  }
  if (params.model.empty()) {
    return tl::unexpected(
        make_error(ProviderErrorKind::config, std::string(model_variable) + " is empty"));
  }
  if (params.idle_timeout.count() <= 0 || params.connect_timeout.count() <= 0) {
    return tl::unexpected(
        make_error(ProviderErrorKind::config, std::string(what) + " timeouts must be positive"));
  }
  return {};
}

// Checks `request` (valid, not yet cancelled: then no request is sent) and runs the call.
tl::expected<LlmResult, ProviderError>
run_llm_stream(net::HttpClient& client, net::HttpRequest http_request, const LlmRequest& request,
               const TokenSink& sink, const LlmStreamParams& params, const LlmWireFormat& format);

} // namespace pv::cascade::http
