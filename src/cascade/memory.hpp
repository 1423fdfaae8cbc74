#pragma once
// Rolling conversation memory of one agent session.
//
// Each user or assistant message is one turn (MAX_TURNS_IN_MEMORY counts messages, as the
// original did); the oldest turns are dropped beyond max_turns (0 keeps nothing). Content is
// trimmed; empty content is ignored.
// Barge-in: the reply was appended as produced, but the room heard only part of it;
// amend_last_assistant() replaces it with what was actually heard (and marks it interrupted), or
// removes it when nothing was heard, so the LLM never "remembers" words nobody heard.
// Thread-safe: a short mutex, never held across I/O; snapshot() copies.

#include "cascade/llm/llm_provider.hpp"

#include <cstddef>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace pv::cascade {

struct MemoryTurn {
  Role role = Role::user;
  std::string content;
  int64_t at_ms = 0;        // media time the turn was recorded
  bool interrupted = false; // an assistant turn cut by barge-in (content = what was heard)
};

enum class AmendResult { amended, removed, no_assistant_turn };

class SessionMemory {
public:
  explicit SessionMemory(std::size_t max_turns = 50) : max_turns_(max_turns) {}

  // Adds a user or assistant turn. Returns false (and stores nothing) for empty content, a system
  // role, or max_turns == 0.
  bool append(Role role, std::string_view content, int64_t at_ms = 0);

  // Replaces the newest assistant turn with `heard_text` (marked interrupted); removes it if
  // `heard_text` is blank.
  AmendResult amend_last_assistant(std::string_view heard_text);

  // Replaces everything (e.g. from a turn coordinator); keeps the newest max_turns.
  void replace_all(std::vector<MemoryTurn> turns);

  std::vector<MemoryTurn> snapshot() const;
  std::size_t size() const;
  std::size_t max_turns() const { return max_turns_; }
  void clear();

private:
  void trim_locked();

  std::size_t max_turns_;
  mutable std::mutex mutex_;
  std::deque<MemoryTurn> turns_;
};

// The words of `text` the room heard when `played_fraction` (0..1) of its audio was played, cut
// at a word boundary (a word counts as heard once its first half was played).
std::string heard_prefix(std::string_view text, double played_fraction);

} // namespace pv::cascade
