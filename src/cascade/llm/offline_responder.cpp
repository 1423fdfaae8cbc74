#include "cascade/llm/offline_responder.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdint>
#include <set>
#include <string_view>

namespace pv::cascade {

namespace {

constexpr std::array<std::string_view, 134> kStopWords = {
    "a",     "about",  "above",   "after",   "again",   "against", "all",   "also",   "am",
    "an",    "and",    "any",     "are",     "aren't",  "as",      "at",    "be",     "because",
    "been",  "before", "being",   "below",   "between", "both",    "but",   "by",     "can",
    "could", "did",    "do",      "does",    "doing",   "don't",   "down",  "during", "each",
    "few",   "for",    "from",    "further", "had",     "has",     "have",  "having", "he",
    "her",   "here",   "hers",    "him",     "his",     "how",     "i",     "i'm",    "if",
    "in",    "into",   "is",      "isn't",   "it",      "it's",    "its",   "just",   "like",
    "me",    "more",   "most",    "my",      "no",      "nor",     "not",   "now",    "of",
    "off",   "on",     "once",    "only",    "or",      "other",   "our",   "out",    "over",
    "own",   "really", "same",    "she",     "should",  "so",      "some",  "such",   "than",
    "that",  "the",    "their",   "them",    "then",    "there",   "these", "they",   "think",
    "this",  "those",  "through", "to",      "too",     "under",   "until", "up",     "very",
    "was",   "we",     "well",    "were",    "what",    "when",    "where", "which",  "while",
    "who",   "whom",   "why",     "will",    "with",    "would",   "yeah",  "yes",    "you",
    "your",  "you're", "want",    "know",    "get",     "got",     "thing", "things",
};

constexpr std::array<std::string_view, 8> kGreetingWords = {
    "hi", "hello", "hey", "howdy", "greetings", "hiya", "morning", "evening"};
constexpr std::array<std::string_view, 21> kQuestionStarts = {
    "what", "why", "how", "when",  "where", "who",    "which", "whose", "is",  "are", "do",
    "does", "did", "can", "could", "would", "should", "will",  "have",  "has", "tell"};

bool contains(auto const& list, std::string_view word) {
  return std::find(list.begin(), list.end(), word) != list.end();
}

std::vector<std::string> words_of(const std::string& text) {
  std::vector<std::string> words;
  std::string word;
  auto flush = [&] {
    while (!word.empty() && word.back() == '\'') {
      word.pop_back();
    }
    if (!word.empty()) {
      words.push_back(word);
    }
    word.clear();
  };
  for (const char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    if (std::isalnum(c) != 0 || (c == '\'' && !word.empty())) {
      word += static_cast<char>(std::tolower(c));
    } else {
      flush();
    }
  }
  flush();
  return words;
}

uint32_t fnv1a(std::string_view text) {
  uint32_t h = 2166136261U;
  for (const char c : text) {
    h ^= static_cast<unsigned char>(c);
    h *= 16777619U;
  }
  return h;
}

std::string join_words(const std::vector<std::string>& words) {
  std::string out;
  for (std::size_t i = 0; i < words.size(); ++i) {
    if (i > 0) {
      out += i + 1 == words.size() ? " and " : ", ";
    }
    out += words[i];
  }
  return out;
}

std::string replace_all(std::string text, std::string_view key, const std::string& value) {
  for (std::size_t pos = text.find(key); pos != std::string::npos;
       pos = text.find(key, pos + value.size())) {
    text.replace(pos, key.size(), value);
  }
  return text;
}

template <std::size_t N>
std::string pick(const std::array<std::string_view, N>& options, uint32_t hash) {
  return std::string(options[hash % N]);
}

const ChatMessage* last_user_message(const std::vector<ChatMessage>& messages) {
  for (auto it = messages.rbegin(); it != messages.rend(); ++it) {
    if (it->role == Role::user) {
      return &*it;
    }
  }
  return nullptr;
}

std::string opener_reply(const std::string& task, uint32_t hash) {
  std::string topic;
  std::size_t line_start = 0;
  while (line_start < task.size()) {
    std::size_t line_end = task.find('\n', line_start);
    if (line_end == std::string::npos) {
      line_end = task.size();
    }
    const std::string_view line(task.data() + line_start, line_end - line_start);
    if (line.rfind("Topic: ", 0) == 0) {
      topic = std::string(line.substr(7));
      while (!topic.empty() && (topic.back() == '.' || topic.back() == ' ')) {
        topic.pop_back();
      }
    }
    line_start = line_end + 1;
  }
  constexpr std::array<std::string_view, 2> with_topic = {
      "Welcome, everyone, and thanks for joining. Today we're talking about {topic}. What's your "
      "first take on it?",
      "Hello, everyone, glad you're here. Our topic today is {topic}. Who wants to start us off?"};
  constexpr std::array<std::string_view, 2> without_topic = {
      "Welcome, everyone, and thanks for joining. What would you like to talk about today?",
      "Hello, everyone, glad you're here. What's on your mind today?"};
  return topic.empty() ? pick(without_topic, hash)
                       : replace_all(pick(with_topic, hash), "{topic}", topic);
}

} // namespace

std::vector<std::string> OfflineResponder::key_words(const std::string& text, std::size_t max) {
  std::vector<std::string> out;
  std::set<std::string> seen;
  for (auto& word : words_of(text)) {
    if (out.size() >= max) {
      break;
    }
    if (word.size() < 3 || contains(kStopWords, word) || contains(kGreetingWords, word) ||
        word.rfind("thank", 0) == 0 || !seen.insert(word).second) {
      continue;
    }
    out.push_back(word);
  }
  return out;
}

std::string OfflineResponder::compose_reply(const LlmRequest& request) {
  const ChatMessage* user = last_user_message(request.messages);
  const std::string text = user != nullptr ? user->content : std::string();
  const uint32_t hash = fnv1a(text);
  if (request.purpose == LlmPurpose::opener) {
    return opener_reply(text, hash);
  }

  const auto words = words_of(text);
  if (words.empty()) {
    return "I'm here. What would you like to talk about?";
  }
  const bool greeting =
      contains(kGreetingWords, words.front()) ||
      (words.size() >= 2 && words[0] == "good" &&
       (words[1] == "morning" || words[1] == "afternoon" || words[1] == "evening"));
  const bool thanks = std::any_of(words.begin(), words.end(), [](const std::string& w) {
    return w.rfind("thank", 0) == 0 || w == "thx" || w == "cheers";
  });
  const std::size_t first_content = greeting && words.size() > 1 && words[1] == "there" ? 2 : 1;
  const bool question =
      text.find('?') != std::string::npos || contains(kQuestionStarts, words.front()) ||
      (greeting && words.size() > first_content && contains(kQuestionStarts, words[first_content]));
  const auto keys = key_words(text);
  const std::string topic = join_words(keys);

  std::string reply;
  if (greeting) {
    constexpr std::array<std::string_view, 3> hello = {
        "Hi there, good to hear you.", "Hello! Glad you're here.", "Hey, welcome in."};
    reply = pick(hello, hash);
    if (keys.empty() && !question) {
      return reply + " What's on your mind today?";
    }
    reply += ' ';
  } else if (thanks) {
    constexpr std::array<std::string_view, 2> welcome = {
        "You're welcome! Anything else you'd like to dig into?",
        "Happy to help. What should we talk about next?"};
    return pick(welcome, hash);
  }

  if (question) {
    constexpr std::array<std::string_view, 2> with_keys = {
        "Good question about {kw}. I'm running offline, so I can't look that up right now. "
        "What's your own take?",
        "You're asking about {kw}. I can't check facts in offline mode, but I'd love to hear what "
        "you think."};
    constexpr std::array<std::string_view, 1> without_keys = {
        "Good question. I'm running offline, so I can't look that up. What do you think?"};
    reply +=
        keys.empty() ? pick(without_keys, hash) : replace_all(pick(with_keys, hash), "{kw}", topic);
    return reply;
  }
  constexpr std::array<std::string_view, 3> statement = {
      "You mentioned {kw}. Tell me more about that.",
      "Interesting point about {kw}. What makes you say that?",
      "So {kw} is on your mind. How did you get into it?"};
  constexpr std::array<std::string_view, 2> vague = {"I hear you. Could you tell me a bit more?",
                                                     "Okay. What would you like to talk about?"};
  reply += keys.empty() ? pick(vague, hash) : replace_all(pick(statement, hash), "{kw}", topic);
  return reply;
}

tl::expected<LlmResult, ProviderError> OfflineResponder::generate(const LlmRequest& request,
                                                                  const TokenSink& sink) {
  if (auto valid = validate_llm_request(request); !valid) {
    return tl::unexpected(valid.error());
  }
  if (!sink) {
    return tl::unexpected(make_error(ProviderErrorKind::bad_input, "offline: no token sink given"));
  }
  const auto started = Clock::now();
  const std::string reply = compose_reply(request);
  LlmResult result;
  std::size_t pos = 0;
  while (pos < reply.size()) {
    if (request.cancel.cancelled()) {
      return tl::unexpected(make_error(ProviderErrorKind::cancelled, "offline: cancelled"));
    }
    if (result.pieces >= request.max_tokens) {
      result.finish = FinishReason::max_tokens;
      break;
    }
    // One piece = optional leading space + one word.
    std::size_t end = pos;
    while (end < reply.size() && reply[end] == ' ') {
      ++end;
    }
    while (end < reply.size() && reply[end] != ' ') {
      ++end;
    }
    const std::string_view piece(reply.data() + pos, end - pos);
    if (result.pieces == 0) {
      result.first_token_ms =
          std::chrono::duration<double, std::milli>(Clock::now() - started).count();
    }
    result.text.append(piece);
    ++result.pieces;
    pos = end;
    if (!sink(piece)) {
      result.finish = FinishReason::stopped_by_caller;
      break;
    }
  }
  result.total_ms = std::chrono::duration<double, std::milli>(Clock::now() - started).count();
  return result;
}

} // namespace pv::cascade
