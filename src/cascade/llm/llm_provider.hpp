#pragma once
// Chat-completion providers that stream text pieces (the offline responder here; OpenAI-compatible
// SSE and Anthropic over HTTP are added elsewhere).
//
// Contract for every provider:
//  * generate() blocks the calling thread (a backend worker, never the room clock thread) until
//    the reply is complete, cancelled, failed or a deadline passed. Text pieces go to `sink` on the
//    calling thread as they arrive, in order; joined they form LlmResult::text exactly (pieces
//    carry their own spaces: never add or trim whitespace between them).
//  * Deadlines: no first piece within `first_token_timeout` -> first_token_timeout; the whole call
//    beyond `total_timeout` -> timeout. Remote providers enforce both inside their transfer loop
//    (StreamDeadlines below), not only while connecting.
//  * Cancellation: `cancel` may be set from any thread; the provider stops reading, closes the
//    stream and returns ProviderErrorKind::cancelled promptly. A sink returning false also stops
//    the stream (e.g. the safety length cap was reached): generate() then returns the text so far
//    with finish = FinishReason::stopped_by_caller.
//  * Errors are typed: rate_limited (429), auth (401/403), http (other status), disconnected
//    (reset mid-stream), protocol (unparseable stream), timeout kinds, cancelled.
//  * Providers are thread-safe; concurrent generate() calls are allowed.

#include "cascade/cancel.hpp"
#include "cascade/provider_error.hpp"

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <tl/expected.hpp>

namespace pv::cascade {

enum class Role { system, user, assistant };
const char* to_string(Role role);

struct ChatMessage {
  Role role = Role::user;
  std::string content;
  bool operator==(const ChatMessage&) const = default;
};

enum class LlmPurpose {
  reply,  // answer the last user turn
  opener, // open the room (the last user message carries the task; see prompts.hpp)
};

struct LlmRequest {
  std::vector<ChatMessage> messages; // system first, ends on a user message (prompts.hpp)
  int max_tokens = 150;              // LLM_MAX_TOKENS / OPENER_MAX_TOKENS
  LlmPurpose purpose = LlmPurpose::reply;
  std::chrono::milliseconds first_token_timeout{8000}; // LLM_FIRST_TOKEN_TIMEOUT_MS
  std::chrono::milliseconds total_timeout{25000};      // LLM_TOTAL_TIMEOUT_MS
  CancelToken cancel;
};

// Returns false to stop the stream.
using TokenSink = std::function<bool(std::string_view piece)>;

enum class FinishReason { complete, max_tokens, stopped_by_caller };

struct LlmResult {
  std::string text;
  int pieces = 0;
  FinishReason finish = FinishReason::complete;
  double first_token_ms = 0;
  double total_ms = 0;
};

class LlmProvider {
public:
  virtual ~LlmProvider() = default;
  virtual std::string_view name() const = 0;
  // False for rule-based stand-ins (the offline responder): the agent labels them in logs/metrics.
  virtual bool is_language_model() const = 0;
  virtual tl::expected<LlmResult, ProviderError> generate(const LlmRequest& request,
                                                          const TokenSink& sink) = 0;
};

// Shared request validation: at least one message, ends on a user message, positive limits.
tl::expected<void, ProviderError> validate_llm_request(const LlmRequest& request);

// First-token and total deadlines of one streaming call, for remote providers' transfer loops
// (e.g. the curl progress/write callbacks): start() when the request is sent, on_piece() for
// every piece received, check() as often as convenient.
class StreamDeadlines {
public:
  StreamDeadlines(std::chrono::milliseconds first_token_timeout,
                  std::chrono::milliseconds total_timeout)
      : first_(first_token_timeout), total_(total_timeout) {}

  void start(Clock::time_point now = Clock::now()) {
    started_ = now;
    got_first_ = false;
  }
  void on_piece(Clock::time_point now = Clock::now()) {
    if (!got_first_) {
      got_first_ = true;
      first_at_ = now;
    }
  }
  // The deadline that has passed, if any (first_token_timeout or timeout).
  std::optional<ProviderErrorKind> check(Clock::time_point now = Clock::now()) const {
    if (now - started_ >= total_) {
      return ProviderErrorKind::timeout;
    }
    if (!got_first_ && now - started_ >= first_) {
      return ProviderErrorKind::first_token_timeout;
    }
    return std::nullopt;
  }
  bool got_first() const { return got_first_; }
  double first_token_ms() const {
    return got_first_ ? std::chrono::duration<double, std::milli>(first_at_ - started_).count() : 0;
  }

private:
  std::chrono::milliseconds first_;
  std::chrono::milliseconds total_;
  Clock::time_point started_{};
  Clock::time_point first_at_{};
  bool got_first_ = false;
};

} // namespace pv::cascade
