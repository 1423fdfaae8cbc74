#include "cascade/safety.hpp"

#include <algorithm>
#include <cctype>
#include <regex>
#include <vector>

namespace pv::cascade {

namespace {

bool is_space(char c) {
  return std::isspace(static_cast<unsigned char>(c)) != 0;
}

std::string_view trim(std::string_view text) {
  while (!text.empty() && is_space(text.front())) {
    text.remove_prefix(1);
  }
  while (!text.empty() && is_space(text.back())) {
    text.remove_suffix(1);
  }
  return text;
}

const std::vector<std::regex>& injection_patterns() {
  constexpr auto flags = std::regex::ECMAScript | std::regex::icase | std::regex::optimize;
  static const std::vector<std::regex> patterns = {
      std::regex(
          R"((ignore|disregard|forget)\s+(all\s+)?(of\s+)?(the\s+|your\s+)?(previous|prior|earlier|above)\s+(instructions|prompts?|rules))",
          flags),
      std::regex(R"(forget\s+(all\s+)?(your|the)\s+(instructions|rules))", flags),
      std::regex(R"(reveal\s+(the\s+|your\s+)?(system\s+prompt|prompt|instructions))", flags),
      std::regex(R"(you\s+are\s+not\s+an\s+a\.?i\b\.?)", flags),
  };
  return patterns;
}

const std::regex& profanity_pattern() {
  static const std::regex pattern(
      R"(\b(motherfuck\w{0,20}|fuck(s|ed|er|ers|ing|in)?|bullshit|shit(s|ty|ting)?|cunts?|nigg(er|a)s?)\b)",
      std::regex::ECMAScript | std::regex::icase | std::regex::optimize);
  return pattern;
}

int replace_all(std::string& text, const std::regex& pattern, std::string_view replacement) {
  int count = 0;
  std::string out;
  auto begin = std::sregex_iterator(text.begin(), text.end(), pattern);
  auto last = text.cbegin();
  for (auto it = begin; it != std::sregex_iterator(); ++it) {
    out.append(last, text.cbegin() + it->position());
    out.append(replacement);
    last = text.cbegin() + it->position() + it->length();
    ++count;
  }
  if (count > 0) {
    out.append(last, text.cend());
    text = std::move(out);
  }
  return count;
}

// Cuts `text` to at most `max_chars` code points, preferring a sentence end, then a space.
std::string cap_text(std::string_view text, std::size_t max_chars, bool& truncated) {
  const std::size_t limit = utf8_prefix_bytes(text, max_chars);
  if (limit >= text.size()) {
    truncated = false;
    return std::string(text);
  }
  truncated = true;
  std::size_t cut = 0;
  for (std::size_t i = limit; i > limit / 2; --i) {
    const char c = text[i - 1];
    if ((c == '.' || c == '!' || c == '?') && (i == text.size() || is_space(text[i]))) {
      cut = i;
      break;
    }
  }
  if (cut == 0) {
    for (std::size_t i = limit; i > 0; --i) {
      if (is_space(text[i - 1])) {
        cut = i - 1;
        break;
      }
    }
  }
  if (cut == 0) {
    cut = limit;
  }
  return std::string(trim(text.substr(0, cut)));
}

} // namespace

std::size_t utf8_length(std::string_view text) {
  return static_cast<std::size_t>(std::count_if(text.begin(), text.end(), [](char c) {
    return (static_cast<unsigned char>(c) & 0xC0U) != 0x80U;
  }));
}

std::size_t utf8_prefix_bytes(std::string_view text, std::size_t max_chars) {
  std::size_t chars = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if ((static_cast<unsigned char>(text[i]) & 0xC0U) != 0x80U) {
      if (chars == max_chars) {
        return i;
      }
      ++chars;
    }
  }
  return text.size();
}

SafetyFilter::SafetyFilter(SafetyParams params) : params_(std::move(params)) {}

int SafetyFilter::redact_injections(std::string& text) {
  int count = 0;
  for (const auto& pattern : injection_patterns()) {
    count += replace_all(text, pattern, "[redacted]");
  }
  return count;
}

int SafetyFilter::replace_profanity(std::string& text) const {
  return replace_all(text, profanity_pattern(), params_.profanity_replacement);
}

UserTextCheck SafetyFilter::check_user(std::string_view text) const {
  UserTextCheck check;
  const std::string_view trimmed = trim(text);
  if (trimmed.empty()) {
    return check;
  }
  const std::size_t keep = utf8_prefix_bytes(trimmed, params_.max_user_chars);
  check.truncated = keep < trimmed.size();
  check.text = std::string(trimmed.substr(0, keep));
  check.redactions = redact_injections(check.text);
  check.allowed = true;
  return check;
}

AssistantTextCheck SafetyFilter::check_assistant(std::string_view text) const {
  AssistantTextCheck check;
  const std::string_view trimmed = trim(text);
  if (trimmed.empty()) {
    return check;
  }
  // Bound the regex work first: nothing past twice the cap can be spoken anyway.
  const std::size_t bounded = utf8_prefix_bytes(trimmed, 2 * params_.max_assistant_chars);
  std::string clean(trimmed.substr(0, bounded));
  check.profanities_replaced = replace_profanity(clean);
  check.text = cap_text(clean, params_.max_assistant_chars, check.truncated);
  check.truncated = check.truncated || bounded < trimmed.size();
  check.allowed = !check.text.empty();
  return check;
}

ReplyGate::Passed ReplyGate::pass(std::string_view chunk) {
  PV_ASSERT_OWNER(owner_);
  Passed passed;
  passed.exhausted = exhausted_;
  const std::string_view trimmed = trim(chunk);
  if (exhausted_ || trimmed.empty()) {
    return passed;
  }
  std::string clean(
      trimmed.substr(0, utf8_prefix_bytes(trimmed, 2 * filter_.params().max_assistant_chars)));
  passed.profanities_replaced = filter_.replace_profanity(clean);
  const std::size_t separator = spoken_.empty() ? 0 : 1;
  const std::size_t max = filter_.params().max_assistant_chars;
  const std::size_t budget = used_chars_ + separator >= max ? 0 : max - used_chars_ - separator;
  bool truncated = false;
  passed.text = budget == 0 ? std::string() : cap_text(clean, budget, truncated);
  if (truncated || budget == 0) {
    exhausted_ = true;
  }
  if (!passed.text.empty()) {
    if (separator != 0) {
      spoken_ += ' ';
    }
    spoken_ += passed.text;
    used_chars_ += separator + utf8_length(passed.text);
  }
  passed.exhausted = exhausted_;
  return passed;
}

} // namespace pv::cascade
