#pragma once
// Shared pieces of the cascade's HTTP providers (openai/anthropic LLM, openai ASR, openai/google/
// azure TTS): URL checks, the client and secrets each provider owns, POST requests, HTTP ->
// provider error mapping (with the provider's own message from the error body, bounded and
// scrubbed of keys), and little-endian PCM decoding across chunk boundaries.
//
// Pure functions are callable from any thread; PcmDecoder is owned by one thread (the provider's
// calling thread).

#include "cascade/provider_error.hpp"
#include "net/http_client.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <tl/expected.hpp>

namespace pv::cascade::http {

// Secrets of one provider (API keys): never in a message, log line or error.
using Secrets = std::vector<std::string>;

// `base` + `path` with exactly one '/' between them ("http://h/v1/" + "/chat" -> ".../v1/chat").
std::string join_url(std::string_view base, std::string_view path);

// A config error naming `variable` unless `url` is an absolute http:// or https:// URL.
tl::expected<void, ProviderError> check_base_url(std::string_view url, std::string_view variable);

// `text` with every secret (and the log layer's credential patterns) masked.
std::string scrub(std::string_view text, const Secrets& secrets);

// The provider's own error message from an error response body: the JSON fields used by OpenAI
// ({"error":{"message"}}), Anthropic ({"error":{"type","message"}}), Google ({"error":{"message",
// "status"}}) and common servers ({"error":"..."}, {"message"}, {"detail"}); otherwise the start
// of the body as text. At most `max_chars` bytes (cut on a UTF-8 boundary), control characters
// replaced by spaces. Not scrubbed: pass the result through scrub().
std::string error_message_from_body(std::string_view body, std::size_t max_chars = 300);

// The error "type"/"status"/"code" string of a JSON error body, if any (e.g. "overloaded_error",
// "RESOURCE_EXHAUSTED", "rate_limit_exceeded").
std::string error_type_from_body(std::string_view body);

// Maps a failed HTTP call:
//   http_status 401/403 -> auth; 429 -> rate_limited (+retry_after); other -> http (+status, the
//   server's message); connect_failed/disconnected/tls_error -> disconnected; timeouts -> timeout
//   (first_byte -> first_token_timeout); cancelled -> cancelled; invalid_argument -> config;
//   protocol -> protocol.
// `what` prefixes the message ("openai LLM"). Every message is scrubbed of `secrets`.
ProviderError to_provider_error(const net::HttpError& error, std::string_view what,
                                const Secrets& secrets);

// What every remote provider owns: one HTTP client (one worker thread for all its calls) and the
// secrets to keep out of its messages.
struct ProviderHttp {
  std::unique_ptr<net::HttpClient> client;
  Secrets secrets;
};

// The client (`name` names its thread and log tag); a non-empty `api_key` becomes a secret of the
// provider and of the log layer.
tl::expected<ProviderHttp, ProviderError> make_provider_http(std::string name,
                                                             const std::string& api_key);

// A POST of `body` to `url` with `headers`; `connect_timeout` bounds TCP + TLS.
net::HttpRequest post_request(std::string url, net::Headers headers, std::string body,
                              std::chrono::milliseconds connect_timeout);

// Adds `Authorization: Bearer <api_key>` when a key is set (OpenAI-compatible local servers need
// none).
void add_bearer(net::HttpRequest& request, const std::string& api_key);

// Standard base64 (RFC 4648, padded; line breaks allowed) via OpenSSL's EVP decoder. nullopt for
// characters outside the alphabet or a truncated quantum.
std::optional<std::vector<uint8_t>> decode_base64(std::string_view text);

// "123 ms" helpers for messages.
std::string ms_text(std::chrono::milliseconds ms);

// Decodes mono s16 little-endian bytes that arrive in arbitrary pieces: an odd byte at the end of
// one piece is joined with the first byte of the next, so no sample is lost or misaligned.
class PcmDecoder {
public:
  // The complete samples made available by `bytes` (valid until the next call).
  std::span<const int16_t> decode(std::string_view bytes);
  // A byte is waiting for its partner (at the end of a stream: a truncated sample).
  bool has_partial_sample() const { return carry_.has_value(); }

private:
  std::vector<int16_t> samples_;
  std::optional<uint8_t> carry_;
};

} // namespace pv::cascade::http
