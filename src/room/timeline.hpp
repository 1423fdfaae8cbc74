#pragma once
// The run's timeline: one JSON object with
//   events: [{t_ms, type, ...}]  – user speech start/end, agent speaking start/stop, errors, ...
//   turns:  [{user_text, agent_text, latency_ms: {total, <parts>...}, ...}]
// Thread-safe; the room records events, the agent records turns and errors.

#include <cstdint>
#include <filesystem>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>
#include <tl/expected.hpp>

namespace pv::room {

struct TimelineTurn {
  uint64_t turn_id = 0;
  std::string user_text;
  std::string agent_text;
  bool interrupted = false;
  int64_t user_speech_end_ms = -1;   // media time
  int64_t first_agent_audio_ms = -1; // media time the first reply frame was played
  // "total" first, then the parts.
  std::vector<std::pair<std::string, double>> latency_ms;
};

class Timeline {
public:
  // Event types used across the project.
  static constexpr const char* kUserSpeechStart = "user_speech_start";
  static constexpr const char* kUserSpeechEnd = "user_speech_end";
  static constexpr const char* kAgentSpeakingStart = "agent_speaking_start";
  static constexpr const char* kAgentSpeakingStop = "agent_speaking_stop";
  static constexpr const char* kBargeIn = "barge_in";
  static constexpr const char* kError = "error";

  void add_event(int64_t t_ms, std::string type, nlohmann::json extra = nlohmann::json::object());
  void add_turn(TimelineTurn turn);

  nlohmann::json to_json() const;
  std::vector<TimelineTurn> turns() const;
  std::size_t event_count(const std::string& type) const;

  // Atomic write (temporary file + rename).
  tl::expected<void, std::string> write(const std::filesystem::path& path) const;

private:
  mutable std::mutex mutex_;
  nlohmann::json events_ = nlohmann::json::array();
  std::vector<TimelineTurn> turns_;
};

} // namespace pv::room
