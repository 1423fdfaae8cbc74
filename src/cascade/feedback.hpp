#pragma once
// Audience reactions (like, dislike, boo, cheer) from the Podium WebSocket, counted over a REAL
// sliding window (default 60 s: a reaction counts until it is window_ms old; the original only
// reset when a whole minute passed without any reaction, so a steady trickle never expired).
//
// From the counts: a sentiment and one of five behaviour levels, using the persona's thresholds.
// Levels are checked high_negative, negative, high_positive, positive (de-escalation first), each
// met when either of its two counts reaches the threshold.
//
// Target filter (FEEDBACK_REACT_TO_ADDRESS): "" counts every reaction; "self" counts reactions
// addressed to the agent's own wallet address (set_self_address(), known after joining; until
// then nothing is counted); "0x..." counts reactions to that address. Case-insensitive.
//
// Thread-safe (WS strand records, the backend worker reads): a short mutex, no I/O under it.
// Memory is bounded: at most max_events reactions are kept (the oldest go first under a flood),
// and one message's amount is capped at max_amount.

#include "cascade/personas.hpp"

#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <string_view>

#include <nlohmann/json_fwd.hpp>

namespace pv::cascade {

enum class Reaction { like, dislike, boo, cheer };
enum class Sentiment { neutral, cheer, boo };
enum class BehaviourLevel { high_negative, negative, neutral, positive, high_positive };

const char* to_string(Sentiment sentiment);
const char* to_string(BehaviourLevel level);

struct ReactionCounts {
  int likes = 0;
  int dislikes = 0;
  int boos = 0;
  int cheers = 0;
  bool operator==(const ReactionCounts&) const = default;
};

// Cheers weigh double against likes, boos double against dislikes; the side with more weight
// wins, equal weight is neutral (symmetric, unlike the original where likes never made "cheer").
Sentiment sentiment_of(const ReactionCounts& counts);
BehaviourLevel behaviour_level(const ReactionCounts& counts, const FeedbackThresholds& thresholds);

struct FeedbackSnapshot {
  ReactionCounts counts;
  Sentiment sentiment = Sentiment::neutral;
  BehaviourLevel level = BehaviourLevel::neutral;
};

struct FeedbackParams {
  int64_t window_ms = 60000;
  std::string react_to_filter; // FEEDBACK_REACT_TO_ADDRESS
  std::size_t max_events = 4096;
  int max_amount = 100;
};

class FeedbackCollector {
public:
  explicit FeedbackCollector(FeedbackParams params = {});

  void set_self_address(std::string address);

  // Counts one reaction at `now_ms` (any monotonic ms clock, non-decreasing) if it passes the
  // target filter. `amount` < 1 is ignored. Returns whether it was counted.
  bool record(Reaction reaction, int amount, int64_t now_ms, std::string_view target_address = {});

  // A Podium WS message {"name": ..., "data": {...}}: user.liked / user.disliked / user.booed /
  // user.cheered (data.react_to_user_address, optional data.amount for cheer/boo), or the legacy
  // "reactions" with data.type (LIKE...) or data.reaction (like...). Anything else (or malformed
  // fields) is ignored. Returns whether a reaction was counted.
  bool ingest(const nlohmann::json& message, int64_t now_ms);

  ReactionCounts counts(int64_t now_ms) const;
  FeedbackSnapshot snapshot(int64_t now_ms, const FeedbackThresholds& thresholds) const;

private:
  struct Event {
    int64_t at_ms;
    Reaction reaction;
    int amount;
  };
  bool accepts_target_locked(std::string_view target) const;

  FeedbackParams params_;
  mutable std::mutex mutex_;
  std::string self_address_;
  std::deque<Event> events_;
};

} // namespace pv::cascade
