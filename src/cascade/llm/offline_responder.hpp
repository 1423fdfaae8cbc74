#pragma once
// The OFFLINE responder (MODEL_PROVIDER=offline, the default when no LLM is configured).
//
// It is NOT a language model: is_language_model() is false and config validation warns about it.
// Replies follow fixed rules on the last user message:
//   * greeting ("hi", "hello", "good morning"...)  -> greet back and ask what's on their mind;
//   * thanks                                        -> you're welcome + a follow-up;
//   * question (a '?' or a question word first)     -> acknowledge the topic (key words echoed),
//                                                      say it can't look things up offline, ask
//                                                      for their take;
//   * anything else                                 -> echo 1-3 key words, ask a follow-up;
//   * opener purpose                                -> welcome + the topic ("Topic: " line of the
//                                                      opener task, see prompts.hpp) + a question.
// Deterministic: the same messages give the same reply (template choice is a hash of the input).
// Streams word by word (each piece carries its leading space) with no artificial delay; honours
// cancel between pieces, max_tokens (words), and a sink returning false.
// Thread-safe (stateless).

#include "cascade/llm/llm_provider.hpp"

#include <string>
#include <vector>

namespace pv::cascade {

class OfflineResponder final : public LlmProvider {
public:
  std::string_view name() const override { return "offline"; }
  bool is_language_model() const override { return false; }
  tl::expected<LlmResult, ProviderError> generate(const LlmRequest& request,
                                                  const TokenSink& sink) override;

  // The full reply generate() would stream (for tests and logs).
  static std::string compose_reply(const LlmRequest& request);
  // Content words of `text` in order of appearance, lower-case, without stop words, at most `max`.
  static std::vector<std::string> key_words(const std::string& text, std::size_t max = 3);
};

} // namespace pv::cascade
