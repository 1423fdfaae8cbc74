#include "cascade/prompts.hpp"

#include <cctype>

namespace pv::cascade {

namespace {

constexpr std::string_view kOpenerGuidance =
    "You are opening the room. Start with a short hook, name the topic, and end with one "
    "friendly question that invites people to speak. Keep it under about twenty seconds of "
    "speech.";

std::string plural(int n, std::string_view word) {
  return std::to_string(n) + " " + std::string(word) + (n == 1 ? "" : "s");
}

std::string render_turn(const MemoryTurn& turn) {
  if (!turn.interrupted || turn.content.empty()) {
    return turn.content;
  }
  const char last = turn.content.back();
  if (last == '.' || last == '!' || last == '?') {
    return turn.content;
  }
  return turn.content + "\xE2\x80\x94"; // em dash: cut off mid-sentence
}

void append_merged(std::vector<ChatMessage>& messages, Role role, const std::string& content) {
  if (content.empty()) {
    return;
  }
  if (messages.size() > 1 && messages.back().role == role) {
    messages.back().content += "\n\n" + content;
    return;
  }
  messages.push_back(ChatMessage{role, content});
}

std::string system_text(const Persona& persona, std::string_view feedback_line,
                        std::string_view extra) {
  std::string text = persona_prompt(persona);
  if (!extra.empty()) {
    text += "\n\n";
    text += extra;
  }
  if (!feedback_line.empty()) {
    text += "\n\n";
    text += feedback_line;
  }
  return text;
}

std::vector<ChatMessage> history_messages(std::string system, std::span<const MemoryTurn> history) {
  std::vector<ChatMessage> messages;
  messages.push_back(ChatMessage{Role::system, std::move(system)});
  for (const auto& turn : history) {
    if (turn.role == Role::system) {
      continue;
    }
    // Providers reject a conversation that opens with the assistant (e.g. after a greeting):
    // give the greeting its context instead of dropping it.
    if (messages.size() == 1 && turn.role == Role::assistant) {
      messages.push_back(ChatMessage{Role::user, "(You joined the room and spoke first.)"});
    }
    append_merged(messages, turn.role, render_turn(turn));
  }
  return messages;
}

} // namespace

std::string build_feedback_line(const FeedbackSnapshot& feedback) {
  const auto& c = feedback.counts;
  std::string line = "Audience feedback (last minute: " + plural(c.cheers, "cheer") + ", " +
                     plural(c.likes, "like") + ", " + plural(c.boos, "boo") + ", " +
                     plural(c.dislikes, "dislike") + "): ";
  switch (feedback.level) {
  case BehaviourLevel::high_positive:
    line += "the room is loving this. Keep the momentum and build on what works.";
    break;
  case BehaviourLevel::positive:
    line += "people like where this is going. Keep it up.";
    break;
  case BehaviourLevel::negative:
    line += "some pushback. Acknowledge it briefly and adjust: be more concise or change the "
            "angle.";
    break;
  case BehaviourLevel::high_negative:
    line += "strong pushback. Acknowledge it openly, keep it short, and invite someone else to "
            "steer the topic.";
    break;
  case BehaviourLevel::neutral:
    switch (feedback.sentiment) {
    case Sentiment::cheer:
      line += "a little positive.";
      break;
    case Sentiment::boo:
      line += "a little negative.";
      break;
    case Sentiment::neutral:
      line += "neutral.";
      break;
    }
    break;
  }
  return line;
}

std::vector<ChatMessage> build_reply_messages(const Persona& persona,
                                              std::span<const MemoryTurn> history,
                                              std::string_view feedback_line) {
  auto messages = history_messages(system_text(persona, feedback_line, {}), history);
  if (messages.back().role != Role::user) {
    // Nothing new from the room (e.g. proactive speech): ask for a short continuation.
    messages.push_back(ChatMessage{
        Role::user, "(The room is quiet. Say one short thing to keep the conversation going.)"});
  }
  return messages;
}

std::vector<ChatMessage> build_opener_messages(const Persona& persona,
                                               std::span<const MemoryTurn> history,
                                               std::string_view feedback_line,
                                               const OpenerContext& context) {
  auto messages = history_messages(system_text(persona, feedback_line, kOpenerGuidance), history);
  std::string task;
  if (!context.topic_seed.empty()) {
    task += "Topic: " + context.topic_seed + "\n";
  }
  if (!context.room_context.empty()) {
    task += "Room context: " + context.room_context + "\n";
  }
  task += "Task: open the conversation now, in your own voice.";
  append_merged(messages, Role::user, task);
  return messages;
}

std::size_t url_encoded_size(std::string_view text) {
  std::size_t size = 0;
  for (const char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    const bool unreserved = std::isalnum(c) != 0 || c == '-' || c == '_' || c == '.' || c == '~';
    size += unreserved ? 1 : 3;
  }
  return size;
}

PersonaPlexPrompt build_personaplex_prompt(const Persona& persona,
                                           std::span<const MemoryTurn> history,
                                           std::string_view feedback_line, std::size_t max_bytes,
                                           PromptBudgetUnit unit) {
  auto measure = [unit](std::string_view text) {
    return unit == PromptBudgetUnit::raw_bytes ? text.size() : url_encoded_size(text);
  };
  PersonaPlexPrompt prompt;
  prompt.text = persona_prompt(persona);
  std::size_t used = measure(prompt.text);
  if (used > max_bytes) {
    prompt.persona_over_budget = true;
    prompt.measured_bytes = used;
    return prompt;
  }
  const std::string separator = "\n\n";
  if (!feedback_line.empty()) {
    const std::size_t cost = measure(separator) + measure(feedback_line);
    if (used + cost <= max_bytes) {
      prompt.text += separator;
      prompt.text += feedback_line;
      used += cost;
    }
  }
  // Newest turns first until the budget is spent; then emit them oldest first.
  const std::string header = "\n\nConversation so far:";
  const std::size_t header_cost = measure(header);
  std::vector<std::string> lines;
  std::size_t lines_cost = 0;
  for (auto it = history.rbegin(); it != history.rend(); ++it) {
    if (it->role == Role::system || it->content.empty()) {
      continue;
    }
    std::string line =
        std::string("\n") + (it->role == Role::user ? "User: " : "Assistant: ") + render_turn(*it);
    const std::size_t cost = measure(line);
    if (used + header_cost + lines_cost + cost > max_bytes) {
      break;
    }
    lines_cost += cost;
    lines.push_back(std::move(line));
  }
  if (!lines.empty()) {
    prompt.text += header;
    for (auto it = lines.rbegin(); it != lines.rend(); ++it) {
      prompt.text += *it;
    }
    used += header_cost + lines_cost;
  }
  prompt.turns_included = static_cast<int>(lines.size());
  prompt.measured_bytes = used;
  return prompt;
}

} // namespace pv::cascade
