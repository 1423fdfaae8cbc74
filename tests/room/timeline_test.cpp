#include "room/timeline.hpp"

#include <filesystem>
#include <fstream>
#include <thread>

#include <gtest/gtest.h>

namespace pv::room {
namespace {

TEST(Timeline, EventsStaySortedWhenRecordedOutOfOrderFromSeveralThreads) {
  Timeline t;
  std::vector<std::thread> threads;
  for (int th = 0; th < 4; ++th) {
    threads.emplace_back([&t, th] {
      for (int i = 0; i < 250; ++i) {
        t.add_event((i * 37 + th * 11) % 997, std::string("e").append(std::to_string(th)));
      }
    });
  }
  for (auto& th : threads) {
    th.join();
  }
  auto events = t.to_json()["events"];
  ASSERT_EQ(events.size(), 1000u);
  for (std::size_t i = 1; i < events.size(); ++i) {
    ASSERT_LE(events[i - 1]["t_ms"].get<int64_t>(), events[i]["t_ms"].get<int64_t>());
  }
  EXPECT_EQ(t.event_count("e2"), 250u);
}

TEST(Timeline, JsonShapeHasEventsAndTurnsWithLatency) {
  Timeline t;
  t.add_event(120, Timeline::kUserSpeechStart, {{"text", "hi"}});
  TimelineTurn turn;
  turn.turn_id = 1;
  turn.user_text = "hi there";
  turn.agent_text = "hello";
  turn.user_speech_end_ms = 900;
  turn.first_agent_audio_ms = 1700;
  turn.latency_ms = {{"total", 800}, {"vad_wait", 500}, {"asr", 40}};
  t.add_turn(turn);
  auto j = t.to_json();
  EXPECT_EQ(j["events"][0]["type"], "user_speech_start");
  EXPECT_EQ(j["events"][0]["text"], "hi");
  EXPECT_EQ(j["events"][0]["t_ms"], 120);
  ASSERT_EQ(j["turns"].size(), 1u);
  EXPECT_EQ(j["turns"][0]["user_text"], "hi there");
  EXPECT_EQ(j["turns"][0]["agent_text"], "hello");
  EXPECT_EQ(j["turns"][0]["latency_ms"]["total"], 800);
  EXPECT_EQ(j["turns"][0]["latency_ms"]["asr"], 40);
}

TEST(Timeline, WriteIsAtomicAndReportsUnwritablePaths) {
  auto dir = std::filesystem::temp_directory_path() / ("pv_tl_" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  Timeline t;
  t.add_event(1, "x");
  auto path = dir / "nested" / "timeline.json";
  ASSERT_TRUE(t.write(path));
  std::ifstream in(path);
  auto j = nlohmann::json::parse(in);
  EXPECT_EQ(j["events"].size(), 1u);
  EXPECT_FALSE(std::filesystem::exists(path.string() + ".tmp"));

  auto bad = t.write("/proc/pv-no-such/timeline.json");
  ASSERT_FALSE(bad.has_value());
  EXPECT_NE(bad.error().find("/proc/pv-no-such"), std::string::npos);
  std::filesystem::remove_all(dir);
}

} // namespace
} // namespace pv::room
