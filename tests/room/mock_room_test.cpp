#include "room/mock_room.hpp"

#include "audio/wav.hpp"

#include <cmath>
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

namespace pv::room {
namespace {

namespace fs = std::filesystem;

fs::path temp_dir(const std::string& name) {
  auto dir = fs::temp_directory_path() / ("pv_room_" + std::to_string(::getpid())) / name;
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

// 16 kHz clip: silence / tone / silence / tone / silence (durations in ms).
audio::PcmBuffer script_clip() {
  audio::PcmBuffer pcm{16000, {}};
  auto silence = [&](int ms) {
    pcm.samples.insert(pcm.samples.end(), 16 * ms, 0);
  };
  auto tone = [&](int ms, double hz) {
    for (int i = 0; i < 16 * ms; ++i) {
      pcm.samples.push_back(static_cast<int16_t>(8000 * std::sin(2 * M_PI * hz * i / 16000.0)));
    }
  };
  silence(200);
  tone(600, 440);
  silence(800);
  tone(400, 660);
  silence(200);
  return pcm;
}

// Records what the room delivers and answers with a recognisable pattern.
class RecordingHandler : public RoomHandler {
public:
  explicit RecordingHandler(Room* room = nullptr) : room_(room) {}
  void on_audio_tick(const audio::Frame& in, audio::Frame& out) override {
    EXPECT_EQ(in.sample_rate(), 48000);
    EXPECT_EQ(in.size(), 960u);
    EXPECT_EQ(out.size(), 960u);
    inbound.insert(inbound.end(), in.samples().begin(), in.samples().end());
    for (std::size_t i = 0; i < out.size(); ++i) {
      out.samples()[i] = static_cast<int16_t>((ticks * 7 + i) % 1000);
    }
    if (room_ != nullptr && ticks == 10) {
      room_->set_speaking(true);
    }
    if (room_ != nullptr && ticks == 20) {
      room_->set_speaking(false);
    }
    ++ticks;
  }
  void on_room_event(const RoomEvent& e) override { events.push_back(e); }
  bool can_finish() override { return ticks >= finish_after; }

  Room* room_;
  std::vector<int16_t> inbound;
  std::vector<RoomEvent> events;
  std::size_t ticks = 0;
  std::size_t finish_after = 0;
};

TEST(MockRoom, PlaysTheScriptRecordsTheAgentAndLabelsSpeech) {
  auto dir = temp_dir("script");
  ASSERT_TRUE(audio::write_wav(dir / "user.wav", script_clip()));
  std::ofstream(dir / "user.json")
      << R"({"speech": [{"start_ms": 200, "end_ms": 800, "text": "hello"},
                                                      {"start_ms": 1600, "end_ms": 2000}],
                                           "room_events": [{"t_ms": 1000, "kind": "reaction", "detail": "cheer", "value": 2}]})";
  Timeline timeline;
  MockRoomParams params;
  params.input_wav = (dir / "user.wav").string();
  params.output_wav = (dir / "out" / "agent.wav").string();
  params.speed = 0;
  params.lead_in_ms = 100;
  params.tail_ms = 300;
  auto room = MockRoom::create(params, timeline);
  ASSERT_TRUE(room.has_value()) << room.error().message;
  EXPECT_EQ((*room)->script_duration_ms(), 100 + 2200 + 300);

  RecordingHandler handler(room->get());
  std::atomic<bool> stop{false};
  ASSERT_TRUE((*room)->run(handler, stop));

  // Every script frame was delivered once, in order (lead-in silence first).
  const std::size_t script_frames = 2600 / 20;
  EXPECT_EQ(handler.ticks, script_frames);
  ASSERT_EQ(handler.inbound.size(), script_frames * 960);
  for (std::size_t i = 0; i < 100 * 48; ++i) {
    ASSERT_EQ(handler.inbound[i], 0) << "lead-in must be silent";
  }
  int16_t peak = 0;
  for (std::size_t i = (100 + 250) * 48; i < (100 + 750) * 48; ++i) {
    peak = std::max<int16_t>(peak, handler.inbound[i]);
  }
  EXPECT_GT(peak, 7000) << "the tone reaches the agent at 48 kHz at its level";

  // The recording is exactly what the handler sent.
  auto rec = audio::read_wav(params.output_wav);
  ASSERT_TRUE(rec.has_value()) << rec.error().message;
  EXPECT_EQ(rec->sample_rate, 48000);
  ASSERT_EQ(rec->samples.size(), script_frames * 960);
  for (std::size_t t = 0; t < script_frames; t += 17) {
    for (std::size_t i = 0; i < 960; i += 101) {
      ASSERT_EQ(rec->samples[t * 960 + i], static_cast<int16_t>((t * 7 + i) % 1000));
    }
  }

  // Labels (shifted by the lead-in), agent speaking, scripted reaction.
  auto json = timeline.to_json();
  std::vector<std::pair<int64_t, std::string>> events;
  for (const auto& e : json["events"]) {
    events.emplace_back(e["t_ms"].get<int64_t>(), e["type"].get<std::string>());
  }
  const std::vector<std::pair<int64_t, std::string>> expected = {
      {200, "agent_speaking_start"}, {300, "user_speech_start"}, {400, "agent_speaking_stop"},
      {900, "user_speech_end"},      {1100, "room_reaction"},    {1700, "user_speech_start"},
      {2100, "user_speech_end"}};
  EXPECT_EQ(events, expected);
  EXPECT_EQ(json["events"][1]["text"], "hello");
  ASSERT_EQ(handler.events.size(), 1u);
  EXPECT_EQ(handler.events[0].kind, RoomEvent::Kind::reaction);
  EXPECT_EQ(handler.events[0].detail, "cheer");
  EXPECT_DOUBLE_EQ(handler.events[0].value, 2.0);
}

TEST(MockRoom, WithoutLabelsSpeechSpansAreEstimatedFromTheLevel) {
  auto dir = temp_dir("nolabels");
  ASSERT_TRUE(audio::write_wav(dir / "user.wav", script_clip()));
  Timeline timeline;
  MockRoomParams params;
  params.input_wav = (dir / "user.wav").string();
  params.speed = 0;
  params.lead_in_ms = 0;
  params.tail_ms = 0;
  auto room = MockRoom::create(params, timeline);
  ASSERT_TRUE(room.has_value());
  const auto& spans = (*room)->speech_spans();
  ASSERT_EQ(spans.size(), 2u);
  EXPECT_NEAR(spans[0].start_ms, 200, 20);
  EXPECT_NEAR(spans[0].end_ms, 800, 20);
  EXPECT_NEAR(spans[1].start_ms, 1600, 20);
  EXPECT_NEAR(spans[1].end_ms, 2000, 20);
}

TEST(MockRoom, KeepsTickingUntilTheAgentCanFinishBoundedByMaxWait) {
  Timeline timeline;
  MockRoomParams params;
  params.speed = 0;
  params.lead_in_ms = 0;
  params.tail_ms = 100; // 5 frames of script
  params.max_wait_ms = 1000;
  auto room = MockRoom::create(params, timeline);
  ASSERT_TRUE(room.has_value());
  RecordingHandler handler;
  handler.finish_after = 30;
  std::atomic<bool> stop{false};
  ASSERT_TRUE((*room)->run(handler, stop));
  EXPECT_EQ(handler.ticks, 30u);
  EXPECT_EQ(timeline.event_count(Timeline::kError), 0u);

  Timeline timeline2;
  auto room2 = MockRoom::create(params, timeline2);
  RecordingHandler never;
  never.finish_after = 1u << 30;
  ASSERT_TRUE((*room2)->run(never, stop));
  EXPECT_EQ(never.ticks, 5u + 1000u / 20u) << "the script, then at most max_wait_ms more";
  EXPECT_EQ(timeline2.event_count(Timeline::kError), 1u) << "running out of wait time is reported";
}

TEST(MockRoom, StopFlagEndsTheRun) {
  Timeline timeline;
  MockRoomParams params;
  params.speed = 0;
  params.tail_ms = 600000;
  auto room = MockRoom::create(params, timeline);
  ASSERT_TRUE(room.has_value());
  struct Stopper : RecordingHandler {
    std::atomic<bool>* stop = nullptr;
    void on_audio_tick(const audio::Frame& in, audio::Frame& out) override {
      RecordingHandler::on_audio_tick(in, out);
      if (ticks == 42) {
        stop->store(true);
      }
    }
  } handler;
  std::atomic<bool> stop{false};
  handler.stop = &stop;
  ASSERT_TRUE((*room)->run(handler, stop));
  EXPECT_EQ(handler.ticks, 42u);
}

TEST(MockRoom, BadInputsFailBeforeTheRunWithAClearMessage) {
  Timeline timeline;
  auto dir = temp_dir("bad");
  MockRoomParams params;
  params.input_wav = (dir / "missing.wav").string();
  auto missing = MockRoom::create(params, timeline);
  ASSERT_FALSE(missing.has_value());
  EXPECT_NE(missing.error().message.find("missing.wav"), std::string::npos)
      << missing.error().message;

  std::ofstream(dir / "junk.wav") << "this is not a wav file at all";
  params.input_wav = (dir / "junk.wav").string();
  auto junk = MockRoom::create(params, timeline);
  ASSERT_FALSE(junk.has_value());
  EXPECT_NE(junk.error().message.find("junk.wav"), std::string::npos) << junk.error().message;

  ASSERT_TRUE(audio::write_wav(dir / "ok.wav", script_clip()));
  std::ofstream(dir / "ok.json") << "{ not json";
  params.input_wav = (dir / "ok.wav").string();
  auto badlabels = MockRoom::create(params, timeline);
  ASSERT_FALSE(badlabels.has_value());
  EXPECT_NE(badlabels.error().message.find("ok.json"), std::string::npos);
  fs::remove(dir / "ok.json");

  params.output_wav = "/proc/pv-no-such-dir/agent.wav";
  auto unwritable = MockRoom::create(params, timeline);
  ASSERT_FALSE(unwritable.has_value());
  EXPECT_NE(unwritable.error().message.find("/proc/pv-no-such-dir"), std::string::npos)
      << unwritable.error().message;
}

// Real-time pacing uses absolute deadlines from the injected clock.
class RecordingClock : public audio::ClockSource {
public:
  time_point now() override { return now_; }
  void sleep_until(time_point t) override {
    deadlines.push_back(t);
    now_ = t + std::chrono::microseconds(3000); // always served 3 ms late
  }
  std::vector<time_point> deadlines;

private:
  time_point now_{};
};

TEST(MockRoom, RealTimePacingFollowsAbsoluteDeadlines) {
  Timeline timeline;
  MockRoomParams params;
  params.speed = 1;
  params.lead_in_ms = 0;
  params.tail_ms = 2000;
  RecordingClock clock;
  auto room = MockRoom::create(params, timeline, clock);
  ASSERT_TRUE(room.has_value());
  RecordingHandler handler;
  std::atomic<bool> stop{false};
  ASSERT_TRUE((*room)->run(handler, stop));
  ASSERT_GE(clock.deadlines.size(), 99u);
  const auto t0 = clock.deadlines.front() - std::chrono::milliseconds(20);
  for (std::size_t k = 0; k < clock.deadlines.size(); ++k) {
    ASSERT_EQ(clock.deadlines[k] - t0, std::chrono::milliseconds(20) * static_cast<int>(k + 1))
        << "tick " << k << " drifted";
  }
}

} // namespace
} // namespace pv::room
