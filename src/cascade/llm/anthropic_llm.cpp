#include "cascade/llm/anthropic_llm.hpp"

#include "cascade/llm/llm_http_stream.hpp"
#include "net/http_client.hpp"

#include <nlohmann/json.hpp>

namespace pv::cascade {

namespace {

using nlohmann::json;

constexpr const char* kWhat = "anthropic LLM";
// Put in front of a conversation that opens with the assistant (the API requires a user turn).
constexpr const char* kOpeningUserTurn = "(The conversation begins.)";
constexpr int kOverloadedStatus = 529;

ProviderErrorKind kind_of_error_type(std::string_view type) {
  if (type == "overloaded_error" || type == "rate_limit_error") {
    return ProviderErrorKind::rate_limited;
  }
  if (type == "authentication_error" || type == "permission_error") {
    return ProviderErrorKind::auth;
  }
  return ProviderErrorKind::http;
}

ProviderError malformed(std::string_view why, std::string_view data) {
  return make_error(ProviderErrorKind::protocol,
                    std::string(kWhat) + ": malformed stream event (" + std::string(why) +
                        "): " + http::error_message_from_body(data, 120));
}

const json* object_field(const json& object, const char* key) {
  const auto it = object.find(key);
  return it != object.end() && it->is_object() ? &*it : nullptr;
}

std::string string_field(const json& object, const char* key) {
  const auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : std::string();
}

} // namespace

tl::expected<std::unique_ptr<AnthropicLlm>, ProviderError>
AnthropicLlm::create(AnthropicLlmParams params) {
  if (auto ok = http::check_llm_params(params, kWhat, "ANTHROPIC_BASE_URL", "ANTHROPIC_MODEL_NAME");
      !ok) {
    return tl::unexpected(ok.error());
  }
  auto http = http::make_provider_http("llm-anthropic", params.api_key);
  if (!http) {
    return tl::unexpected(http.error());
  }
  return std::unique_ptr<AnthropicLlm>(new AnthropicLlm(std::move(params), std::move(*http)));
}

AnthropicLlm::AnthropicLlm(AnthropicLlmParams params, http::ProviderHttp http)
    : params_(std::move(params)), http_(std::move(http)) {}

AnthropicLlm::~AnthropicLlm() = default;

std::string AnthropicLlm::request_body(const LlmRequest& request) const {
  std::string system;
  json messages = json::array();
  for (const auto& message : request.messages) {
    if (message.role == Role::system) {
      system += (system.empty() ? "" : "\n\n") + message.content;
      continue;
    }
    const char* role = message.role == Role::user ? "user" : "assistant";
    if (messages.empty() && message.role == Role::assistant) {
      messages.push_back({{"role", "user"}, {"content", kOpeningUserTurn}});
    }
    if (!messages.empty() && messages.back()["role"] == role) {
      messages.back()["content"] =
          messages.back()["content"].get<std::string>() + "\n\n" + message.content;
    } else {
      messages.push_back({{"role", role}, {"content", message.content}});
    }
  }
  json body = {{"model", params_.model},
               {"max_tokens", request.max_tokens},
               {"stream", true},
               {"messages", std::move(messages)}};
  if (!system.empty()) {
    body["system"] = system;
  }
  return body.dump(-1, ' ', false, json::error_handler_t::replace);
}

tl::expected<LlmResult, ProviderError> AnthropicLlm::generate(const LlmRequest& request,
                                                              const TokenSink& sink) {
  net::HttpRequest http_request =
      http::post_request(http::join_url(params_.base_url, "v1/messages"),
                         {{"content-type", "application/json"},
                          {"accept", "text/event-stream"},
                          {"anthropic-version", kApiVersion}},
                         request_body(request), params_.connect_timeout);
  if (!params_.api_key.empty()) {
    http_request.headers.push_back({"x-api-key", params_.api_key});
  }

  http::LlmWireFormat format;
  format.on_event = [this](const net::SseEvent& event,
                           http::LlmStreamState& state) -> tl::expected<void, ProviderError> {
    const json data = json::parse(event.data, nullptr, false);
    if (data.is_discarded() || !data.is_object()) {
      return tl::unexpected(malformed("not a JSON object", event.data));
    }
    // The SSE event name and the JSON "type" agree; use the JSON one if the name is missing.
    const std::string type = event.type != "message" ? event.type : string_field(data, "type");
    if (type == "content_block_delta") {
      const json* delta = object_field(data, "delta");
      if (delta == nullptr) {
        return tl::unexpected(malformed("content_block_delta without a delta", event.data));
      }
      if (string_field(*delta, "type") == "text_delta") {
        const auto text = delta->find("text");
        if (text == delta->end() || !text->is_string()) {
          return tl::unexpected(malformed("text_delta without text", event.data));
        }
        state.pieces.push_back(text->get<std::string>());
      }
    } else if (type == "content_block_start") {
      const json* block = object_field(data, "content_block");
      if (block != nullptr && string_field(*block, "type") == "text") {
        state.pieces.push_back(string_field(*block, "text")); // normally empty
      }
    } else if (type == "message_delta") {
      if (const json* delta = object_field(data, "delta")) {
        const std::string stop = string_field(*delta, "stop_reason");
        if (stop == "max_tokens") {
          state.finish = FinishReason::max_tokens;
        } else if (!stop.empty()) {
          state.finish = FinishReason::complete;
        }
      }
    } else if (type == "message_stop") {
      state.done = true;
    } else if (type == "error") {
      const json* error = object_field(data, "error");
      const std::string error_type = error != nullptr ? string_field(*error, "type") : "";
      const std::string message = error != nullptr ? string_field(*error, "message") : "";
      const ProviderErrorKind kind = kind_of_error_type(error_type);
      ProviderError out = make_error(
          kind,
          http::scrub(std::string(kWhat) + ": error event (" + error_type + "): " + message,
                      http_.secrets),
          error_type == "overloaded_error" ? kOverloadedStatus : 0);
      return tl::unexpected(std::move(out));
    }
    // message_start, content_block_stop, ping and future event types carry no text.
    return {};
  };
  format.on_json_body = [](std::string_view body,
                           http::LlmStreamState& state) -> tl::expected<void, ProviderError> {
    // A non-streamed Messages response: {"content": [{"type": "text", "text": ...}], ...}.
    const json reply = json::parse(body, nullptr, false);
    if (reply.is_discarded() || !reply.is_object()) {
      return tl::unexpected(malformed("the JSON answer is not an object", body));
    }
    const auto content = reply.find("content");
    if (content == reply.end() || !content->is_array()) {
      return tl::unexpected(malformed("no content", body));
    }
    for (const auto& block : *content) {
      if (block.is_object() && string_field(block, "type") == "text") {
        state.pieces.push_back(string_field(block, "text"));
      }
    }
    state.finish = string_field(reply, "stop_reason") == "max_tokens" ? FinishReason::max_tokens
                                                                      : FinishReason::complete;
    state.done = true;
    return {};
  };
  format.on_http_error = [this](const net::HttpError& error) {
    ProviderError out = http::to_provider_error(error, kWhat, http_.secrets);
    if (error.kind == net::HttpErrorKind::http_status) {
      const std::string type = http::error_type_from_body(error.body_snippet);
      if (error.status == kOverloadedStatus || type == "overloaded_error") {
        out.kind = ProviderErrorKind::rate_limited;
        out.retryable = true;
      }
    }
    return out;
  };

  http::LlmStreamParams stream_params;
  stream_params.idle_timeout = params_.idle_timeout;
  stream_params.what = kWhat;
  stream_params.secrets = &http_.secrets;
  return http::run_llm_stream(*http_.client, std::move(http_request), request, sink, stream_params,
                              format);
}

} // namespace pv::cascade
