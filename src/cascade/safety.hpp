#pragma once
// Safety filter for the cascade's text.
//
// User text (a transcript, before it reaches memory and the LLM):
//   trimmed; empty -> not allowed; truncated to `max_user_chars` code points; prompt-injection
//   phrases ("ignore previous instructions", "reveal the system prompt", "you are not an AI", ...)
//   replaced by "[redacted]" at EVERY occurrence (the original replaced only the first).
// Assistant text (what the agent is about to say):
//   profane words are replaced by `profanity_replacement` inside the text, and nothing else
//   changes (the original swapped the whole reply for a canned line and stored that line in
//   memory); capped at `max_assistant_chars` code points, cut at a sentence end or a space.
//   ReplyGate applies the same per streamed chunk and keeps the reply-wide budget, so memory can
//   store exactly what was spoken.
// Thread-safe: SafetyFilter is immutable after construction. ReplyGate is owned by one thread.

#include "cascade/owner.hpp"

#include <cstddef>
#include <string>
#include <string_view>

namespace pv::cascade {

struct SafetyParams {
  std::size_t max_user_chars = 1000;
  std::size_t max_assistant_chars = 600;
  std::string profanity_replacement = "bleep";
};

struct UserTextCheck {
  bool allowed = false; // false only for empty/blank text
  std::string text;     // sanitised
  bool truncated = false;
  int redactions = 0; // injection phrases replaced
};

struct AssistantTextCheck {
  bool allowed = false; // false only for empty/blank text
  std::string text;     // what may be spoken (and stored)
  bool truncated = false;
  int profanities_replaced = 0;
};

class SafetyFilter {
public:
  explicit SafetyFilter(SafetyParams params = {});

  UserTextCheck check_user(std::string_view text) const;
  AssistantTextCheck check_assistant(std::string_view text) const;

  // Replaces profane words in place; returns how many.
  int replace_profanity(std::string& text) const;
  // Replaces injection phrases in place; returns how many.
  static int redact_injections(std::string& text);

  const SafetyParams& params() const { return params_; }

private:
  SafetyParams params_;
};

// The per-reply view of the assistant rules for a streamed reply (one chunk per TTS sentence).
class ReplyGate {
public:
  explicit ReplyGate(const SafetyFilter& filter) : filter_(filter) {}

  struct Passed {
    std::string text;       // to speak; empty when nothing is left to say
    bool exhausted = false; // the length budget is used up: stop the LLM
    int profanities_replaced = 0;
  };
  Passed pass(std::string_view chunk);

  // Everything passed so far, joined by single spaces: what memory should keep if all of it was
  // played (on barge-in, memory is amended to what was heard instead).
  const std::string& spoken() const { return spoken_; }
  bool exhausted() const { return exhausted_; }

private:
  const SafetyFilter& filter_;
  std::string spoken_;
  std::size_t used_chars_ = 0;
  bool exhausted_ = false;
  MovableThreadOwner owner_;
};

// Number of UTF-8 code points in `text`.
std::size_t utf8_length(std::string_view text);
// Byte length of the longest prefix of `text` with at most `max_chars` code points.
std::size_t utf8_prefix_bytes(std::string_view text, std::size_t max_chars);

} // namespace pv::cascade
