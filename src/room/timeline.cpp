#include "room/timeline.hpp"

#include <fstream>
#include <system_error>

namespace pv::room {

void Timeline::add_event(int64_t t_ms, std::string type, nlohmann::json extra) {
  nlohmann::json event = {{"t_ms", t_ms}, {"type", std::move(type)}};
  if (extra.is_object()) {
    for (auto it = extra.begin(); it != extra.end(); ++it) {
      event[it.key()] = it.value();
    }
  }
  std::lock_guard lock(mutex_);
  // Events are recorded from several threads; keep the list sorted by time (stable for ties).
  auto pos = events_.end();
  while (pos != events_.begin() && (pos - 1)->value("t_ms", int64_t{0}) > t_ms) {
    --pos;
  }
  events_.insert(pos, std::move(event));
}

void Timeline::add_turn(TimelineTurn turn) {
  std::lock_guard lock(mutex_);
  turns_.push_back(std::move(turn));
}

std::vector<TimelineTurn> Timeline::turns() const {
  std::lock_guard lock(mutex_);
  return turns_;
}

std::size_t Timeline::event_count(const std::string& type) const {
  std::lock_guard lock(mutex_);
  std::size_t n = 0;
  for (const auto& e : events_) {
    n += e.value("type", std::string()) == type ? 1 : 0;
  }
  return n;
}

nlohmann::json Timeline::to_json() const {
  std::lock_guard lock(mutex_);
  nlohmann::json turns = nlohmann::json::array();
  for (const auto& t : turns_) {
    nlohmann::json latency = nlohmann::json::object();
    for (const auto& [name, ms] : t.latency_ms) {
      latency[name] = ms;
    }
    nlohmann::json turn = {{"turn_id", t.turn_id},
                           {"user_text", t.user_text},
                           {"agent_text", t.agent_text},
                           {"interrupted", t.interrupted},
                           {"latency_ms", std::move(latency)}};
    if (t.user_speech_end_ms >= 0) {
      turn["user_speech_end_ms"] = t.user_speech_end_ms;
    }
    if (t.first_agent_audio_ms >= 0) {
      turn["first_agent_audio_ms"] = t.first_agent_audio_ms;
    }
    turns.push_back(std::move(turn));
  }
  return {{"events", events_}, {"turns", std::move(turns)}};
}

tl::expected<void, std::string> Timeline::write(const std::filesystem::path& path) const {
  const std::string text = to_json().dump(2) + "\n";
  std::error_code ec;
  if (path.has_parent_path()) {
    std::filesystem::create_directories(path.parent_path(), ec);
    if (ec) {
      return tl::make_unexpected("cannot create directory " + path.parent_path().string() + ": " +
                                 ec.message());
    }
  }
  auto tmp = path;
  tmp += ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) {
      return tl::make_unexpected("cannot write " + tmp.string());
    }
    out << text;
    out.flush();
    if (!out) {
      std::filesystem::remove(tmp, ec);
      return tl::make_unexpected("cannot write " + tmp.string());
    }
  }
  std::filesystem::rename(tmp, path, ec);
  if (ec) {
    std::filesystem::remove(tmp, ec);
    return tl::make_unexpected("cannot move the timeline into place at " + path.string());
  }
  return {};
}

} // namespace pv::room
