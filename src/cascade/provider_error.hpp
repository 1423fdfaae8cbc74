#pragma once
// The error type of every cascade provider (ASR, LLM, TTS), embedded or remote. One kind list
// for all three so the orchestrator maps failures to conversation::ErrorKind and decides about
// retry/fallback in one place.

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace pv::cascade {

enum class ProviderErrorKind {
  config,              // unknown provider, missing key/model file, bad provider settings
  model_load,          // the model exists but could not be loaded/initialised
  bad_input,           // the request itself is unusable (empty text, wrong sample rate, too long)
  busy,                // no capacity right now (all decoders in use, server overloaded)
  first_token_timeout, // no first token/byte/chunk within the first-token deadline
  timeout,             // the whole call exceeded its deadline
  rate_limited,        // HTTP 429 or the provider's equivalent
  auth,                // HTTP 401/403: key rejected
  http,                // other HTTP status
  disconnected,        // connection refused/reset/closed mid-stream
  protocol,            // the provider answered something we cannot parse
  cancelled,           // the caller cancelled (barge-in, shutdown); not a failure of the provider
  internal,            // a bug or an unexpected library failure
};

struct ProviderError {
  ProviderErrorKind kind = ProviderErrorKind::internal;
  std::string message; // what happened, never a secret
  int http_status = 0; // when an HTTP status was received
  bool retryable = false;
  // rate_limited (and 503): how long the server asked us to wait (its Retry-After), if it did.
  std::optional<std::chrono::milliseconds> retry_after;
};

const char* to_string(ProviderErrorKind kind);

// Whether a kind is usually transient (rate_limited, busy, timeouts, disconnected, 5xx http).
bool is_transient(ProviderErrorKind kind, int http_status = 0);

inline ProviderError make_error(ProviderErrorKind kind, std::string message, int http_status = 0) {
  ProviderError error;
  error.kind = kind;
  error.message = std::move(message);
  error.http_status = http_status;
  error.retryable = is_transient(kind, http_status);
  return error;
}

} // namespace pv::cascade
