// TurnBackend (PERSONAPLEX_MODE=turn) against the simulator: one session per utterance, queued
// utterances answered in order, the turn timeout handing the utterance back, and the fallback
// seam through the real agent (Agent::on_error -> fallback->take_over_turn).

#include "personaplex/turn_backend.hpp"

#include "agent/agent.hpp"
#include "audio/wav.hpp"
#include "pp_test_util.hpp"
#include "room/mock_room.hpp"

#include <gtest/gtest.h>

namespace pv::personaplex {
namespace {

using conversation::ErrorKind;
using test::kWait;
using namespace std::chrono_literals;

TEST(TurnBackend, OneSessionPerUtteranceQueuedUtterancesAnsweredInOrder) {
  auto params = test::fast_sim_params();
  params.model.fixed_reply = "Okay, I have noted that down for you.";
  auto server = test::start_sim(params);
  ASSERT_TRUE(server);
  // Three short questions 0.7 s apart: the second and third end while the first turn runs
  // (it replays the question in real time, then the model answers for ~2 s).
  std::vector<int16_t> input;
  for (const char* question : {"apples please", "pears please", "plums please"}) {
    test::append(input, test::speak(question, 48000));
    test::append(input, test::silence(48000, 700));
  }
  const int64_t script_ms = static_cast<int64_t>(input.size() / 48);
  test::RecordingObserver observer;
  test::RoomDriver driver(input);
  auto options = test::backend_options(*server);
  options.mode = config::PersonaPlexMode::turn;
  options.turn_quiet_ms = 600;
  int prompt_calls = 0;
  std::vector<std::size_t> context_sizes;
  std::mutex mutex;
  options.prompt = [&](std::size_t budget, const PromptContext& context) {
    std::lock_guard lock(mutex);
    ++prompt_calls;
    context_sizes.push_back(context.agent_said.size());
    return fixed_prompt_builder("You are a test.")(budget, context);
  };
  TurnBackend backend(options);
  ASSERT_TRUE(backend.start(driver.context(observer)));
  driver.start(backend, 20ms);
  ASSERT_TRUE(test::wait_for([&] { return observer.turns().size() >= 3; }, 40s))
      << testing::PrintToString(observer.events());
  ASSERT_TRUE(test::wait_for([&] { return backend.idle(); }));
  driver.stop();
  backend.stop();

  EXPECT_TRUE(observer.errors().empty());
  const auto turns = observer.turns();
  ASSERT_EQ(turns.size(), 3u);
  for (std::size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(turns[i].turn_id, i + 1); // in order
    EXPECT_EQ(turns[i].agent_text, params.model.fixed_reply);
    std::vector<std::string> parts;
    for (const auto& [name, ms] : turns[i].latency_parts_ms) {
      parts.push_back(name);
    }
    EXPECT_EQ(parts, (std::vector<std::string>{"vad_wait", "turn_queue", "session_setup", "replay",
                                               "server_first_audio"}));
  }
  // Turns 2 and 3 waited behind turn 1.
  EXPECT_GE(backend.stats().max_queued, 2);
  EXPECT_GT(turns[2].latency_parts_ms[1].second, 0.0);
  // All three user turns ended before the first reply was done (queued, not dropped).
  const auto events = observer.events();
  const auto pos = [&](const std::string& e) {
    return std::find(events.begin(), events.end(), e) - events.begin();
  };
  EXPECT_LT(pos("turn_end:3"), pos("turn:2"));
  // One session per utterance, each closed cleanly after its answer; each new prompt carried
  // the replies said before it.
  const auto sessions = server->sessions();
  ASSERT_EQ(sessions.size(), 3u);
  for (const auto& s : sessions) {
    EXPECT_EQ(s.replies, 1);
    EXPECT_EQ(s.swallowed_messages, 0);
    EXPECT_TRUE(s.input_error.empty()) << s.input_error;
    EXPECT_NE(s.end_reason.find("closed (1000)"), std::string::npos) << s.end_reason;
  }
  EXPECT_LT(sessions[0].text_tokens, sessions[2].text_tokens);
  // (The first call is start()'s check that the prompt fits.)
  EXPECT_EQ(context_sizes, (std::vector<std::size_t>{0, 0, 1, 2}));
  EXPECT_EQ(backend.stats().sessions_opened, 3);
  // The replies were played (in the driver's recording) after the script's questions.
  const auto out = driver.output();
  int audible_frames = 0;
  for (std::size_t i = 0; i + 960 <= out.size(); i += 960) {
    audible_frames += test::level_dbfs(std::span<const int16_t>(out).subspan(i, 960)) > -50.0;
  }
  EXPECT_GT(audible_frames, 3 * 25); // three replies of ~1 s
  (void)script_ms;
}

TEST(TurnBackend, TimeoutHandsTheUtteranceBackAsUnanswered) {
  auto params = test::fast_sim_params();
  params.prompt_step_ms = 200; // a prompt phase of several seconds
  auto server = test::start_sim(params);
  ASSERT_TRUE(server);
  auto speech = test::speak("is anybody there", 48000);
  std::vector<int16_t> input = speech;
  test::append(input, test::silence(48000, 3000));
  test::RecordingObserver observer;
  test::RoomDriver driver(input);
  auto options = test::backend_options(*server);
  options.mode = config::PersonaPlexMode::turn;
  options.turn_timeout_ms = 1500;
  TurnBackend backend(options);
  ASSERT_TRUE(backend.start(driver.context(observer)));
  driver.start(backend, 20ms);
  ASSERT_TRUE(test::wait_for([&] { return !observer.errors().empty(); }))
      << testing::PrintToString(observer.events());
  ASSERT_TRUE(test::wait_for([&] { return backend.idle(); }));
  driver.stop();
  backend.stop();
  const auto errors = observer.errors();
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].kind, ErrorKind::turn_timeout) << errors[0].message;
  ASSERT_TRUE(errors[0].unanswered);
  EXPECT_EQ(errors[0].unanswered->turn_id, 1u);
  EXPECT_EQ(errors[0].unanswered->pcm.sample_rate, 16000);
  const int64_t spoken_ms = static_cast<int64_t>(speech.size() / 48);
  EXPECT_GT(errors[0].unanswered->pcm.duration_ms(), spoken_ms - 400);
  EXPECT_LT(errors[0].unanswered->pcm.duration_ms(), spoken_ms + 800);
  EXPECT_TRUE(observer.turns().empty());
  EXPECT_EQ(backend.stats().turns_failed, 1);
  // The session was abandoned: the simulator saw it go during its prompt phase.
  ASSERT_TRUE(server->wait_until([](const auto& s) { return !s.empty() && s[0].ended; }, kWait));
  EXPECT_FALSE(server->sessions()[0].handshake_sent);
}

// A stand-in for the cascade (which is built elsewhere): records the turns handed to it.
class RecordingFallback : public conversation::ConversationBackend {
public:
  std::string_view name() const override { return "fallback-double"; }
  tl::expected<void, conversation::BackendError>
  start(const conversation::BackendContext&) override {
    return {};
  }
  void stop() override {}
  void on_room_frame(const audio::Frame&) override {}
  void fill_agent_frame(audio::Frame&) override {}
  void set_speaking_allowed(bool) override {}
  bool idle() const override { return true; }
  bool take_over_turn(std::shared_ptr<const conversation::UserUtterance> utterance) override {
    std::lock_guard lock(mutex);
    taken.push_back(std::move(utterance));
    return true;
  }
  std::mutex mutex;
  std::vector<std::shared_ptr<const conversation::UserUtterance>> taken;
};

TEST(TurnBackend, AFailedTurnReachesTheFallbackThroughTheAgent) {
  auto params = test::fast_sim_params();
  params.faults.reject_status = 503; // every session: a saturated pool
  auto server = test::start_sim(params);
  ASSERT_TRUE(server);
  test::TempDir dir;
  auto speech = test::speak("can someone hear me", 48000);
  ASSERT_TRUE(audio::write_wav(dir.path / "user.wav", audio::PcmBuffer{48000, speech}));
  room::Timeline timeline;
  room::MockRoomParams room_params;
  room_params.input_wav = (dir.path / "user.wav").string();
  room_params.speed = 2.0; // nothing real-time is asserted here
  room_params.lead_in_ms = 300;
  room_params.tail_ms = 1500;
  room_params.max_wait_ms = 5000;
  auto room = room::MockRoom::create(room_params, timeline);
  ASSERT_TRUE(room.has_value());
  auto options = test::backend_options(*server);
  options.mode = config::PersonaPlexMode::turn;
  TurnBackend backend(options);
  RecordingFallback fallback;
  agent::Agent agent(agent::AgentParams{}, **room, timeline, backend, &fallback);
  std::atomic<bool> stop{false};
  ASSERT_TRUE(agent.run(stop));

  EXPECT_EQ(agent.error_count(), 1);
  ASSERT_EQ(fallback.taken.size(), 1u);
  const auto& utterance = *fallback.taken[0];
  EXPECT_EQ(utterance.turn_id, 1u);
  EXPECT_EQ(utterance.pcm.sample_rate, 16000);
  EXPECT_GT(utterance.pcm.duration_ms(), static_cast<int64_t>(speech.size() / 48) - 400);
  const auto json = timeline.to_json();
  bool error_event = false;
  for (const auto& e : json["events"]) {
    if (e["type"] == "error") {
      error_event = true;
      EXPECT_EQ(e["kind"], "http_rejected");
    }
  }
  EXPECT_TRUE(error_event);
  EXPECT_TRUE(timeline.turns().empty()); // the agent dropped the pending turn it handed over
}

} // namespace
} // namespace pv::personaplex
