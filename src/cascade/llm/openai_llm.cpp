#include "cascade/llm/openai_llm.hpp"

#include "cascade/llm/llm_http_stream.hpp"
#include "net/http_client.hpp"

#include <nlohmann/json.hpp>

namespace pv::cascade {

namespace {

using nlohmann::json;

constexpr const char* kWhat = "openai LLM";

// An {"error": {...}} object inside the stream (OpenAI and vLLM send one when generation fails
// after the 200 status line).
ProviderError stream_error(const json& error, const http::Secrets& secrets) {
  const std::string body = json{{"error", error}}.dump();
  const std::string type = http::error_type_from_body(body);
  std::string message = std::string(kWhat) + ": error event";
  if (!type.empty()) {
    message += " (" + type + ")";
  }
  const std::string detail = http::error_message_from_body(body);
  if (!detail.empty() && detail != body) {
    message += ": " + detail;
  }
  ProviderErrorKind kind = ProviderErrorKind::http;
  if (type.find("rate_limit") != std::string::npos ||
      type.find("overloaded") != std::string::npos) {
    kind = ProviderErrorKind::rate_limited;
  } else if (type.find("auth") != std::string::npos || type == "invalid_api_key") {
    kind = ProviderErrorKind::auth;
  }
  return make_error(kind, http::scrub(message, secrets));
}

std::optional<FinishReason> finish_reason_of(const json& choice) {
  const auto it = choice.find("finish_reason");
  if (it == choice.end() || !it->is_string()) {
    return std::nullopt; // null while streaming
  }
  return it->get_ref<const std::string&>() == "length" ? FinishReason::max_tokens
                                                       : FinishReason::complete;
}

ProviderError malformed(std::string_view why, std::string_view data) {
  return make_error(ProviderErrorKind::protocol,
                    std::string(kWhat) + ": malformed stream event (" + std::string(why) +
                        "): " + http::error_message_from_body(data, 120));
}

} // namespace

tl::expected<std::unique_ptr<OpenAiLlm>, ProviderError> OpenAiLlm::create(OpenAiLlmParams params) {
  if (auto ok = http::check_llm_params(params, kWhat, "LLM_BASE_URL", "OPENAI_MODEL_NAME"); !ok) {
    return tl::unexpected(ok.error());
  }
  auto http = http::make_provider_http("llm-openai", params.api_key);
  if (!http) {
    return tl::unexpected(http.error());
  }
  return std::unique_ptr<OpenAiLlm>(new OpenAiLlm(std::move(params), std::move(*http)));
}

OpenAiLlm::OpenAiLlm(OpenAiLlmParams params, http::ProviderHttp http)
    : params_(std::move(params)), http_(std::move(http)) {}

OpenAiLlm::~OpenAiLlm() = default;

std::string OpenAiLlm::request_body(const LlmRequest& request) const {
  json messages = json::array();
  for (const auto& message : request.messages) {
    messages.push_back({{"role", to_string(message.role)}, {"content", message.content}});
  }
  json body = {{"model", params_.model},
               {"messages", std::move(messages)},
               {"max_tokens", request.max_tokens},
               {"stream", true}};
  // Invalid UTF-8 in a transcript must not make dump() throw: replace it.
  return body.dump(-1, ' ', false, json::error_handler_t::replace);
}

tl::expected<LlmResult, ProviderError> OpenAiLlm::generate(const LlmRequest& request,
                                                           const TokenSink& sink) {
  net::HttpRequest http_request =
      http::post_request(http::join_url(params_.base_url, "chat/completions"),
                         {{"Content-Type", "application/json"}, {"Accept", "text/event-stream"}},
                         request_body(request), params_.connect_timeout);
  http::add_bearer(http_request, params_.api_key);

  http::LlmWireFormat format;
  format.on_event = [this](const net::SseEvent& event,
                           http::LlmStreamState& state) -> tl::expected<void, ProviderError> {
    if (event.data == "[DONE]") {
      state.done = true;
      return {};
    }
    const json chunk = json::parse(event.data, nullptr, false);
    if (chunk.is_discarded() || !chunk.is_object()) {
      return tl::unexpected(malformed("not a JSON object", event.data));
    }
    if (const auto error = chunk.find("error"); error != chunk.end() && !error->is_null()) {
      return tl::unexpected(stream_error(*error, http_.secrets));
    }
    const auto choices = chunk.find("choices");
    if (choices == chunk.end() || choices->is_null()) {
      return {}; // e.g. a usage-only chunk
    }
    if (!choices->is_array()) {
      return tl::unexpected(malformed("'choices' is not an array", event.data));
    }
    if (choices->empty()) {
      return {};
    }
    const json& choice = (*choices)[0];
    if (!choice.is_object()) {
      return tl::unexpected(malformed("a choice is not an object", event.data));
    }
    if (const auto delta = choice.find("delta"); delta != choice.end() && !delta->is_null()) {
      if (!delta->is_object()) {
        return tl::unexpected(malformed("'delta' is not an object", event.data));
      }
      const auto content = delta->find("content");
      if (content != delta->end() && !content->is_null()) {
        if (!content->is_string()) {
          return tl::unexpected(malformed("'content' is not a string", event.data));
        }
        state.pieces.push_back(content->get<std::string>());
      }
    }
    if (auto reason = finish_reason_of(choice)) {
      state.finish = reason;
    }
    return {};
  };
  format.on_json_body = [this](std::string_view body,
                               http::LlmStreamState& state) -> tl::expected<void, ProviderError> {
    const json reply = json::parse(body, nullptr, false);
    if (reply.is_discarded() || !reply.is_object()) {
      return tl::unexpected(malformed("the JSON answer is not an object", body));
    }
    if (const auto error = reply.find("error"); error != reply.end() && !error->is_null()) {
      return tl::unexpected(stream_error(*error, http_.secrets));
    }
    const auto choices = reply.find("choices");
    if (choices == reply.end() || !choices->is_array() || choices->empty() ||
        !(*choices)[0].is_object()) {
      return tl::unexpected(malformed("no choices", body));
    }
    const json& choice = (*choices)[0];
    const auto message = choice.find("message");
    if (message == choice.end() || !message->is_object()) {
      return tl::unexpected(malformed("no message", body));
    }
    const auto content = message->find("content");
    if (content != message->end() && content->is_string()) {
      state.pieces.push_back(content->get<std::string>());
    }
    state.finish = finish_reason_of(choice).value_or(FinishReason::complete);
    state.done = true;
    return {};
  };

  http::LlmStreamParams stream_params;
  stream_params.idle_timeout = params_.idle_timeout;
  stream_params.what = kWhat;
  stream_params.secrets = &http_.secrets;
  return http::run_llm_stream(*http_.client, std::move(http_request), request, sink, stream_params,
                              format);
}

} // namespace pv::cascade
