#include "agent/agent.hpp"
#include "agent/loopback_backend.hpp"
#include "audio/mixer.hpp"
#include "audio/wav.hpp"
#include "room/mock_room.hpp"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>

#include <gtest/gtest.h>

namespace pv::agent {
namespace {

using conversation::BackendContext;
using conversation::BackendError;
using conversation::ErrorKind;

void fill_tone(audio::Frame& f, double hz, int64_t tick, double amplitude = 8000) {
  for (std::size_t i = 0; i < f.size(); ++i) {
    const double n = static_cast<double>(tick * 960 + static_cast<int64_t>(i));
    f.samples()[i] = static_cast<int16_t>(amplitude * std::sin(2 * M_PI * hz * n / 48000.0));
  }
}

// A backend driven by a per-tick script: the test decides what it says and reports.
class ScriptedBackend : public conversation::ConversationBackend {
public:
  std::string_view name() const override { return name_; }
  tl::expected<void, BackendError> start(const BackendContext& c) override {
    context = c;
    ++starts;
    return {};
  }
  void stop() override { ++stops; }
  void on_room_frame(const audio::Frame&) override {
    ++frames_in;
    if (on_tick) {
      on_tick(tick, *context.observer);
    }
  }
  void fill_agent_frame(audio::Frame& out) override {
    if (speak_from <= tick && tick < speak_until) {
      fill_tone(out, 440, tick);
    }
    ++tick;
  }
  void set_speaking_allowed(bool allowed) override { allowed_calls.push_back(allowed); }
  bool idle() const override { return tick >= speak_until; }
  bool take_over_turn(std::shared_ptr<const conversation::UserUtterance> u) override {
    taken.push_back(u);
    return true;
  }
  void on_reaction(const conversation::AudienceReaction& r) override { reactions.push_back(r); }

  std::string name_ = "scripted";
  BackendContext context;
  std::function<void(int64_t, conversation::BackendObserver&)> on_tick;
  int64_t tick = 0;
  int64_t speak_from = 1 << 30;
  int64_t speak_until = 0;
  int starts = 0, stops = 0;
  int64_t frames_in = 0;
  std::vector<bool> allowed_calls;
  std::vector<std::shared_ptr<const conversation::UserUtterance>> taken;
  std::vector<conversation::AudienceReaction> reactions;
};

struct Harness {
  explicit Harness(int tail_ms, std::string input = {}, std::string output = {}) {
    room::MockRoomParams p;
    p.speed = 0;
    p.lead_in_ms = 0;
    p.tail_ms = tail_ms;
    p.max_wait_ms = 2000;
    p.input_wav = std::move(input);
    p.output_wav = std::move(output);
    auto r = room::MockRoom::create(p, timeline);
    EXPECT_TRUE(r.has_value()) << (r ? "" : r.error().message);
    room = std::move(*r);
  }
  std::vector<std::pair<int64_t, std::string>> events() const {
    std::vector<std::pair<int64_t, std::string>> out;
    const auto json = timeline.to_json();
    for (const auto& e : json["events"]) {
      out.emplace_back(e["t_ms"].get<int64_t>(), e["type"].get<std::string>());
    }
    return out;
  }
  room::Timeline timeline;
  std::unique_ptr<room::MockRoom> room;
  std::atomic<bool> stop{false};
};

TEST(SpeakingDetector, StartsOnAudioAndStopsAfterTheHangoverWithoutFlapping) {
  SpeakingDetector d({-50.0, 100});
  audio::Frame loud(48000), quiet(48000);
  fill_tone(loud, 300, 0);
  EXPECT_EQ(d.update(quiet), SpeakingDetector::Change::none);
  EXPECT_EQ(d.update(loud), SpeakingDetector::Change::started);
  // A 60 ms gap between words is not a stop.
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(d.update(quiet), SpeakingDetector::Change::none);
  }
  EXPECT_EQ(d.update(loud), SpeakingDetector::Change::none);
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(d.update(quiet), SpeakingDetector::Change::none) << i;
  }
  EXPECT_EQ(d.update(quiet), SpeakingDetector::Change::stopped);
  EXPECT_FALSE(d.speaking());
}

TEST(Agent, SpeakingFollowsPlayedAudioAndTurnLatencyIsMeasuredToFirstPlayedAudio) {
  Harness h(3000);
  ScriptedBackend backend;
  backend.speak_from = 60; // 1200 ms
  backend.speak_until = 90;
  backend.on_tick = [&](int64_t tick, conversation::BackendObserver& obs) {
    if (tick == 50) {
      obs.on_user_turn_end(7, 600);
    }
    if (tick == 95) {
      conversation::TurnReport r;
      r.turn_id = 7;
      r.user_text = "what time is it";
      r.agent_text = "it is noon";
      r.latency_parts_ms = {{"vad_wait", 300}, {"llm_first_token", 200}};
      obs.on_turn_complete(r);
    }
  };
  Agent agent(AgentParams{{-50.0, 300}, false}, *h.room, h.timeline, backend);
  ASSERT_TRUE(agent.run(h.stop));
  EXPECT_EQ(backend.starts, 1);
  EXPECT_EQ(backend.stops, 1);

  const auto events = h.events();
  const std::vector<std::pair<int64_t, std::string>> expected = {
      {1000, "user_turn_end"},
      {1200, "agent_speaking_start"},
      // The last audible frame ends at 1800 ms; the 15th quiet frame (300 ms hang-over) is played
      // in the tick that starts at 2080 ms, which is when the stop is decided and stamped.
      {2080, "agent_speaking_stop"}};
  EXPECT_EQ(events, expected);

  auto turns = h.timeline.turns();
  ASSERT_EQ(turns.size(), 1u);
  EXPECT_EQ(turns[0].user_text, "what time is it");
  EXPECT_EQ(turns[0].agent_text, "it is noon");
  EXPECT_EQ(turns[0].user_speech_end_ms, 600);
  EXPECT_EQ(turns[0].first_agent_audio_ms, 1200);
  std::map<std::string, double> lat(turns[0].latency_ms.begin(), turns[0].latency_ms.end());
  EXPECT_DOUBLE_EQ(lat.at("total"), 600);
  EXPECT_DOUBLE_EQ(lat.at("vad_wait"), 300);
  EXPECT_DOUBLE_EQ(lat.at("llm_first_token"), 200);
  EXPECT_DOUBLE_EQ(lat.at("queue"), 100);
  EXPECT_EQ(turns[0].latency_ms.front().first, "total");
}

TEST(Agent, TimeIsUpSilencesTheAgentUntilSpeakingIsAllowedAgain) {
  auto dir = std::filesystem::temp_directory_path() / ("pv_agent_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  // A silent script with room events in its sidecar.
  ASSERT_TRUE(
      audio::write_wav(dir / "quiet.wav", audio::PcmBuffer{48000, std::vector<int16_t>(48000, 0)}));
  std::ofstream(dir / "quiet.json") << R"({"room_events": [
      {"t_ms": 100, "kind": "time_is_up"}, {"t_ms": 600, "kind": "speaking_allowed"},
      {"t_ms": 700, "kind": "reaction", "detail": "boo", "value": 3, "participant": "0xabc"}]})";
  Harness h(0, (dir / "quiet.wav").string(), (dir / "agent.wav").string());
  ScriptedBackend backend;
  backend.speak_from = 0;
  backend.speak_until = 50; // talks for the whole second
  Agent agent(AgentParams{{-50.0, 100}, false}, *h.room, h.timeline, backend);
  ASSERT_TRUE(agent.run(h.stop));
  EXPECT_EQ(backend.allowed_calls, (std::vector<bool>{false, true}));
  ASSERT_EQ(backend.reactions.size(), 1u);
  EXPECT_EQ(backend.reactions[0].kind, "boo");
  EXPECT_DOUBLE_EQ(backend.reactions[0].amount, 3);
  EXPECT_EQ(backend.reactions[0].target, "0xabc");

  auto rec = audio::read_wav(dir / "agent.wav");
  ASSERT_TRUE(rec.has_value());
  auto level = [&](int from_ms, int to_ms) {
    return audio::rms_dbfs(std::span<const int16_t>(
        rec->samples.data() + from_ms * 48, static_cast<std::size_t>((to_ms - from_ms) * 48)));
  };
  EXPECT_GT(level(0, 100), -20);    // speaking before time was up
  EXPECT_LT(level(100, 600), -100); // muted: digital silence
  EXPECT_GT(level(600, 1000), -20); // allowed again
  const auto events = h.events();
  EXPECT_EQ(std::count(events.begin(), events.end(),
                       std::make_pair<int64_t, std::string>(0, "agent_speaking_start")),
            1);
  std::filesystem::remove_all(dir);
}

TEST(Agent, UnhealthyPrimaryRoutesTheRoomToTheFallbackAndLostTurnsAreHandedOver) {
  Harness h(1000);
  ScriptedBackend primary, fallback;
  fallback.name_ = "fallback";
  primary.on_tick = [&](int64_t tick, conversation::BackendObserver& obs) {
    if (tick == 10) {
      obs.on_user_turn_end(3, 150);
      obs.on_backend_health(false);
      auto lost = std::make_shared<conversation::UserUtterance>();
      lost->turn_id = 3;
      lost->transcript = "are you there";
      lost->pcm = audio::PcmBuffer{16000, std::vector<int16_t>(3200, 5)};
      BackendError e{ErrorKind::server_closed, "server went away", true, lost};
      obs.on_error(e);
    }
    if (tick == 30) {
      obs.on_backend_health(true);
    }
  };
  Agent agent(AgentParams{}, *h.room, h.timeline, primary, &fallback);
  ASSERT_TRUE(agent.run(h.stop));
  EXPECT_EQ(fallback.starts, 1);
  EXPECT_EQ(fallback.stops, 1);
  // The fallback heard the room only while the primary was down (ticks 11..30).
  EXPECT_EQ(fallback.frames_in, 20);
  EXPECT_EQ(primary.frames_in, 50);
  ASSERT_EQ(fallback.taken.size(), 1u);
  EXPECT_EQ(fallback.taken[0]->transcript, "are you there");
  EXPECT_EQ(fallback.taken[0]->pcm.samples.size(), 3200u);
  EXPECT_EQ(agent.error_count(), 1);
  EXPECT_EQ(h.timeline.event_count(room::Timeline::kError), 1u);
  EXPECT_EQ(h.timeline.event_count("fallback_on"), 1u);
  EXPECT_EQ(h.timeline.event_count("fallback_off"), 1u);
}

// The loopback backend through the real mock room: what the user said comes back, after the
// end-of-utterance silence and the pause, and each exchange is a turn in the timeline.
TEST(LoopbackAgent, EchoesEachUtteranceAfterAPause) {
  auto dir = std::filesystem::temp_directory_path() / ("pv_loop_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  audio::PcmBuffer in{48000, {}};
  auto silence = [&](int ms) {
    in.samples.insert(in.samples.end(), 48 * ms, 0);
  };
  auto tone = [&](int ms, double hz) {
    for (int i = 0; i < 48 * ms; ++i) {
      in.samples.push_back(static_cast<int16_t>(9000 * std::sin(2 * M_PI * hz * i / 48000.0)));
    }
  };
  silence(400);
  tone(800, 500); // 400..1200
  silence(2500);
  tone(600, 750); // 3700..4300
  silence(500);
  ASSERT_TRUE(audio::write_wav(dir / "user.wav", in));
  Harness h(2000, (dir / "user.wav").string(), (dir / "agent.wav").string());
  LoopbackParams params;
  LoopbackBackend backend(params);
  Agent agent(AgentParams{{-50.0, 300}, false}, *h.room, h.timeline, backend);
  ASSERT_TRUE(agent.run(h.stop));

  auto turns = h.timeline.turns();
  ASSERT_EQ(turns.size(), 2u);
  for (const auto& t : turns) {
    std::map<std::string, double> lat(t.latency_ms.begin(), t.latency_ms.end());
    EXPECT_NEAR(lat.at("total"), params.silence_ms + params.reply_pause_ms, 40);
  }
  EXPECT_EQ(turns[0].user_speech_end_ms, 1200);
  EXPECT_EQ(turns[1].user_speech_end_ms, 4300);

  // The echo of the first utterance: 800 ms of the 500 Hz tone starting at first_agent_audio_ms.
  auto rec = audio::read_wav(dir / "agent.wav");
  ASSERT_TRUE(rec.has_value());
  const auto start = static_cast<std::size_t>(turns[0].first_agent_audio_ms) * 48;
  ASSERT_LT(start + 800 * 48, rec->samples.size());
  for (std::size_t i = 0; i < 800 * 48; i += 97) {
    ASSERT_NEAR(rec->samples[start + i], in.samples[400 * 48 + i], 1) << "sample " << i;
  }
  EXPECT_LT(audio::rms_dbfs(std::span<const int16_t>(rec->samples.data(), start)), -100)
      << "nothing is played before the reply";
  std::filesystem::remove_all(dir);
}

} // namespace
} // namespace pv::agent
