#include "cascade/memory.hpp"

#include <algorithm>
#include <cctype>

namespace pv::cascade {

namespace {

std::string_view trim(std::string_view text) {
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front())) != 0) {
    text.remove_prefix(1);
  }
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back())) != 0) {
    text.remove_suffix(1);
  }
  return text;
}

} // namespace

bool SessionMemory::append(Role role, std::string_view content, int64_t at_ms) {
  const std::string_view trimmed = trim(content);
  if (trimmed.empty() || role == Role::system || max_turns_ == 0) {
    return false;
  }
  std::lock_guard lock(mutex_);
  turns_.push_back(MemoryTurn{role, std::string(trimmed), at_ms, false});
  trim_locked();
  return true;
}

AmendResult SessionMemory::amend_last_assistant(std::string_view heard_text) {
  std::lock_guard lock(mutex_);
  auto it = std::find_if(turns_.rbegin(), turns_.rend(),
                         [](const MemoryTurn& t) { return t.role == Role::assistant; });
  if (it == turns_.rend()) {
    return AmendResult::no_assistant_turn;
  }
  const std::string_view heard = trim(heard_text);
  if (heard.empty()) {
    turns_.erase(std::next(it).base());
    return AmendResult::removed;
  }
  it->content = std::string(heard);
  it->interrupted = true;
  return AmendResult::amended;
}

void SessionMemory::replace_all(std::vector<MemoryTurn> turns) {
  std::lock_guard lock(mutex_);
  turns_.clear();
  for (auto& turn : turns) {
    const std::string_view trimmed = trim(turn.content);
    if (trimmed.empty() || turn.role == Role::system) {
      continue;
    }
    turn.content = std::string(trimmed);
    turns_.push_back(std::move(turn));
  }
  trim_locked();
}

std::vector<MemoryTurn> SessionMemory::snapshot() const {
  std::lock_guard lock(mutex_);
  return {turns_.begin(), turns_.end()};
}

std::size_t SessionMemory::size() const {
  std::lock_guard lock(mutex_);
  return turns_.size();
}

void SessionMemory::clear() {
  std::lock_guard lock(mutex_);
  turns_.clear();
}

void SessionMemory::trim_locked() {
  while (turns_.size() > max_turns_) {
    turns_.pop_front();
  }
}

std::string heard_prefix(std::string_view text, double played_fraction) {
  text = trim(text);
  if (played_fraction <= 0.0 || text.empty()) {
    return {};
  }
  if (played_fraction >= 1.0) {
    return std::string(text);
  }
  const double heard_chars = played_fraction * static_cast<double>(text.size());
  std::size_t cut = 0;
  std::size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && std::isspace(static_cast<unsigned char>(text[i])) != 0) {
      ++i;
    }
    const std::size_t word_start = i;
    while (i < text.size() && std::isspace(static_cast<unsigned char>(text[i])) == 0) {
      ++i;
    }
    if (i == word_start) {
      break;
    }
    const double middle = static_cast<double>(word_start + i) / 2.0;
    if (middle > heard_chars) {
      break;
    }
    cut = i;
  }
  return std::string(text.substr(0, cut));
}

} // namespace pv::cascade
