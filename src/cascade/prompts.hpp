#pragma once
// Prompt assembly for the LLM (reply and opener) and for PersonaPlex's text prompt.
//
// LLM messages: [system: persona prompt + "\n\n" + feedback line, ...history]. The feedback line
// lives in the SYSTEM message (the original sent it as a fake user turn before the history).
// Consecutive turns of the same role are merged (one message per speaker change, which every
// provider accepts) and the list always ends on a user message:
//   * reply:  the user's turn is already the last history entry (appended by the orchestrator);
//   * opener: a final user message carries the task ("Topic: <seed>" line, room context, what to
//             do), AFTER the history (the original put it before, which could end on an
//             assistant turn: a prefill for Anthropic).
// An interrupted assistant turn is rendered with a trailing dash ("I think the best part—") so
// the model knows it was cut off.
// Pure functions: thread-safe.

#include "cascade/feedback.hpp"
#include "cascade/llm/llm_provider.hpp"
#include "cascade/memory.hpp"
#include "cascade/personas.hpp"

#include <cstddef>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace pv::cascade {

// One line describing the audience's reactions in the last window, e.g.
// "Audience feedback (last minute: 3 cheers, 1 like, 0 boos, 0 dislikes): ...".
std::string build_feedback_line(const FeedbackSnapshot& feedback);

std::vector<ChatMessage> build_reply_messages(const Persona& persona,
                                              std::span<const MemoryTurn> history,
                                              std::string_view feedback_line);

struct OpenerContext {
  std::string topic_seed;   // TOPIC_SEED
  std::string room_context; // e.g. the outpost's name and subject
};

std::vector<ChatMessage> build_opener_messages(const Persona& persona,
                                               std::span<const MemoryTurn> history,
                                               std::string_view feedback_line,
                                               const OpenerContext& context);

// How build_personaplex_prompt counts its byte budget.
enum class PromptBudgetUnit {
  raw_bytes,         // UTF-8 bytes of the text
  url_encoded_bytes, // bytes once percent-encoded into a query parameter (the request line)
};

struct PersonaPlexPrompt {
  std::string text;
  int turns_included = 0;
  bool persona_over_budget = false; // the persona text alone exceeds max_bytes (sent anyway)
  std::size_t measured_bytes = 0;   // size of `text` in the budget's unit
};

// Persona prompt + feedback line + as many of the MOST RECENT turns as fit in `max_bytes`
// (whole turns, oldest first in the output). The persona text is never trimmed; the feedback line
// is dropped before the persona if it does not fit.
PersonaPlexPrompt
build_personaplex_prompt(const Persona& persona, std::span<const MemoryTurn> history,
                         std::string_view feedback_line, std::size_t max_bytes,
                         PromptBudgetUnit unit = PromptBudgetUnit::url_encoded_bytes);

// Size of `text` percent-encoded as a query-parameter value (unreserved characters count 1,
// everything else 3).
std::size_t url_encoded_size(std::string_view text);

} // namespace pv::cascade
