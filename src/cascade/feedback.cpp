#include "cascade/feedback.hpp"

#include <algorithm>
#include <cctype>
#include <optional>

#include <nlohmann/json.hpp>

namespace pv::cascade {

namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return out;
}

std::optional<Reaction> reaction_from_event_name(std::string_view name) {
  if (name == "user.liked") {
    return Reaction::like;
  }
  if (name == "user.disliked") {
    return Reaction::dislike;
  }
  if (name == "user.booed") {
    return Reaction::boo;
  }
  if (name == "user.cheered") {
    return Reaction::cheer;
  }
  return std::nullopt;
}

std::optional<Reaction> reaction_from_word(std::string_view word) {
  const std::string w = lower(word);
  if (w == "like") {
    return Reaction::like;
  }
  if (w == "dislike") {
    return Reaction::dislike;
  }
  if (w == "boo") {
    return Reaction::boo;
  }
  if (w == "cheer") {
    return Reaction::cheer;
  }
  return std::nullopt;
}

} // namespace

const char* to_string(Sentiment sentiment) {
  switch (sentiment) {
  case Sentiment::cheer:
    return "cheer";
  case Sentiment::boo:
    return "boo";
  case Sentiment::neutral:
    return "neutral";
  }
  return "neutral";
}

const char* to_string(BehaviourLevel level) {
  switch (level) {
  case BehaviourLevel::high_negative:
    return "high_negative";
  case BehaviourLevel::negative:
    return "negative";
  case BehaviourLevel::neutral:
    return "neutral";
  case BehaviourLevel::positive:
    return "positive";
  case BehaviourLevel::high_positive:
    return "high_positive";
  }
  return "neutral";
}

Sentiment sentiment_of(const ReactionCounts& c) {
  const int positive = 2 * c.cheers + c.likes;
  const int negative = 2 * c.boos + c.dislikes;
  if (positive > negative) {
    return Sentiment::cheer;
  }
  if (negative > positive) {
    return Sentiment::boo;
  }
  return Sentiment::neutral;
}

BehaviourLevel behaviour_level(const ReactionCounts& c, const FeedbackThresholds& t) {
  if (c.boos >= t.high_negative_boos || c.dislikes >= t.high_negative_dislikes) {
    return BehaviourLevel::high_negative;
  }
  if (c.boos >= t.negative_boos || c.dislikes >= t.negative_dislikes) {
    return BehaviourLevel::negative;
  }
  if (c.cheers >= t.high_positive_cheers || c.likes >= t.high_positive_likes) {
    return BehaviourLevel::high_positive;
  }
  if (c.cheers >= t.positive_cheers || c.likes >= t.positive_likes) {
    return BehaviourLevel::positive;
  }
  return BehaviourLevel::neutral;
}

FeedbackCollector::FeedbackCollector(FeedbackParams params) : params_(std::move(params)) {
  params_.react_to_filter = lower(params_.react_to_filter);
}

void FeedbackCollector::set_self_address(std::string address) {
  std::lock_guard lock(mutex_);
  self_address_ = lower(address);
}

bool FeedbackCollector::accepts_target_locked(std::string_view target) const {
  const std::string& filter = params_.react_to_filter;
  if (filter.empty()) {
    return true;
  }
  const std::string t = lower(target);
  if (t.empty()) {
    return false;
  }
  if (filter == "self") {
    return !self_address_.empty() && t == self_address_;
  }
  return t == filter;
}

bool FeedbackCollector::record(Reaction reaction, int amount, int64_t now_ms,
                               std::string_view target_address) {
  if (amount < 1) {
    return false;
  }
  std::lock_guard lock(mutex_);
  if (!accepts_target_locked(target_address)) {
    return false;
  }
  const int64_t oldest_kept = now_ms - params_.window_ms;
  while (!events_.empty() && events_.front().at_ms <= oldest_kept) {
    events_.pop_front();
  }
  if (params_.max_events > 0 && events_.size() >= params_.max_events) {
    events_.pop_front();
  }
  events_.push_back(Event{now_ms, reaction, std::min(amount, params_.max_amount)});
  return true;
}

bool FeedbackCollector::ingest(const nlohmann::json& message, int64_t now_ms) {
  if (!message.is_object() || !message.contains("name") || !message["name"].is_string()) {
    return false;
  }
  const std::string name = message["name"].get<std::string>();
  const nlohmann::json empty = nlohmann::json::object();
  const nlohmann::json& data =
      message.contains("data") && message["data"].is_object() ? message["data"] : empty;

  std::optional<Reaction> reaction = reaction_from_event_name(name);
  if (!reaction && name == "reactions") {
    if (data.contains("type") && data["type"].is_string()) {
      reaction = reaction_from_word(data["type"].get<std::string>());
    } else if (data.contains("reaction") && data["reaction"].is_string()) {
      reaction = reaction_from_word(data["reaction"].get<std::string>());
    }
  }
  if (!reaction) {
    return false;
  }
  std::string target;
  if (data.contains("react_to_user_address") && data["react_to_user_address"].is_string()) {
    target = data["react_to_user_address"].get<std::string>();
  }
  int amount = 1;
  if ((*reaction == Reaction::boo || *reaction == Reaction::cheer) && data.contains("amount")) {
    const auto& value = data["amount"];
    if (!value.is_number()) {
      return false;
    }
    const double a = value.get<double>();
    if (!(a >= 1.0)) {
      return false; // zero, negative or NaN
    }
    amount = a > params_.max_amount ? params_.max_amount : static_cast<int>(a);
  }
  return record(*reaction, amount, now_ms, target);
}

ReactionCounts FeedbackCollector::counts(int64_t now_ms) const {
  std::lock_guard lock(mutex_);
  ReactionCounts c;
  const int64_t oldest_kept = now_ms - params_.window_ms;
  for (const auto& e : events_) {
    if (e.at_ms <= oldest_kept || e.at_ms > now_ms) {
      continue;
    }
    switch (e.reaction) {
    case Reaction::like:
      c.likes += e.amount;
      break;
    case Reaction::dislike:
      c.dislikes += e.amount;
      break;
    case Reaction::boo:
      c.boos += e.amount;
      break;
    case Reaction::cheer:
      c.cheers += e.amount;
      break;
    }
  }
  return c;
}

FeedbackSnapshot FeedbackCollector::snapshot(int64_t now_ms,
                                             const FeedbackThresholds& thresholds) const {
  FeedbackSnapshot snap;
  snap.counts = counts(now_ms);
  snap.sentiment = sentiment_of(snap.counts);
  snap.level = behaviour_level(snap.counts, thresholds);
  return snap;
}

} // namespace pv::cascade
