// DuplexBackend against the simulator: a conversation through the real mock room and agent,
// reconnect with backoff (health false -> true, Retry-After), the unanswered turn of a dropped
// session, and the context-window switch to a replacement session (seamless with a pool, with a
// gap when the server serves one session at a time).

#include "personaplex/duplex_backend.hpp"

#include "agent/agent.hpp"
#include "audio/wav.hpp"
#include "pp_test_util.hpp"
#include "room/mock_room.hpp"
#include "support/signal.hpp"

#include <algorithm>
#include <functional>

#include <gtest/gtest.h>

namespace pv::personaplex {
namespace {

using conversation::ErrorKind;
using test::kWait;
using namespace std::chrono_literals;

struct RoomRun {
  test::TempDir dir;
  room::Timeline timeline;
  std::unique_ptr<room::MockRoom> room;
  std::atomic<bool> stop{false};

  // Writes `input_48k` as the room's script; the agent's audio is recorded.
  explicit RoomRun(const std::vector<int16_t>& input_48k, int tail_ms = 3000) {
    const auto input = dir.path / "user.wav";
    EXPECT_TRUE(audio::write_wav(input, audio::PcmBuffer{audio::kRoomRateHz, input_48k}));
    room::MockRoomParams params;
    params.input_wav = input.string();
    params.output_wav = (dir.path / "agent.wav").string();
    params.speed = 1.0; // the model is input-clocked and the playout real-time: run in real time
    params.lead_in_ms = 500;
    params.tail_ms = tail_ms;
    params.max_wait_ms = 15000;
    auto created = room::MockRoom::create(params, timeline);
    EXPECT_TRUE(created.has_value()) << (created ? "" : created.error().message);
    room = std::move(*created);
  }

  std::vector<std::pair<int64_t, std::string>> events() const {
    std::vector<std::pair<int64_t, std::string>> out;
    const auto json = timeline.to_json(); // (a temporary's member would dangle in the loop)
    for (const auto& e : json["events"]) {
      out.emplace_back(e["t_ms"].get<int64_t>(), e["type"].get<std::string>());
    }
    return out;
  }
};

// First audible 20 ms frame of `recording` (48 kHz) at or after `from_ms`, in ms; -1 if none.
int64_t first_audible_ms(const std::vector<int16_t>& recording, int64_t from_ms) {
  for (std::size_t i = static_cast<std::size_t>(from_ms) * 48; i + 960 <= recording.size();
       i += 960) {
    if (test::level_dbfs(std::span<const int16_t>(recording).subspan(i, 960)) > -50.0) {
      return static_cast<int64_t>(i / 48);
    }
  }
  return -1;
}

TEST(DuplexBackend, ConversationThroughTheMockRoomAndAgent) {
  auto server = test::start_sim(test::fast_sim_params());
  ASSERT_TRUE(server);
  std::vector<int16_t> input = test::speak("hello there, how are you doing today", 48000);
  test::append(input, test::silence(48000, 5000));
  test::append(input, test::speak("what do you think about the weather this week", 48000));
  RoomRun run(input);
  DuplexBackend backend(test::backend_options(*server));
  agent::Agent agent(agent::AgentParams{}, *run.room, run.timeline, backend);
  ASSERT_TRUE(agent.run(run.stop));
  EXPECT_EQ(agent.error_count(), 0);

  // One persistent session served the whole conversation and answered both turns.
  ASSERT_TRUE(server->wait_until([](const auto& s) { return !s.empty() && s[0].ended; }, kWait));
  const auto sessions = server->sessions();
  ASSERT_EQ(sessions.size(), 1u);
  ASSERT_EQ(sessions[0].reply_texts.size(), 2u);
  EXPECT_EQ(sessions[0].swallowed_messages, 0);
  EXPECT_TRUE(sessions[0].input_error.empty()) << sessions[0].input_error;
  EXPECT_NE(sessions[0].end_reason.find("closed (1000)"), std::string::npos)
      << sessions[0].end_reason;

  const auto turns = run.timeline.turns();
  ASSERT_EQ(turns.size(), 2u);
  for (std::size_t i = 0; i < turns.size(); ++i) {
    SCOPED_TRACE(i);
    EXPECT_EQ(turns[i].turn_id, i + 1);
    EXPECT_EQ(turns[i].agent_text, sessions[0].reply_texts[i]); // the simulator's words
    EXPECT_TRUE(turns[i].user_text.empty());                    // PersonaPlex has none
    EXPECT_FALSE(turns[i].interrupted);
    ASSERT_GE(turns[i].user_speech_end_ms, 0);
    // The reply arrives after the user stopped.
    EXPECT_GT(turns[i].first_agent_audio_ms, turns[i].user_speech_end_ms);
    ASSERT_FALSE(turns[i].latency_ms.empty());
    EXPECT_EQ(turns[i].latency_ms[0].first, "total");
    EXPECT_GT(turns[i].latency_ms[0].second, 0.0);
    EXPECT_LT(turns[i].latency_ms[0].second, 5000.0);
    std::vector<std::string> parts;
    for (const auto& [name, ms] : turns[i].latency_ms) {
      parts.push_back(name);
      EXPECT_GE(ms, 0.0) << name;
    }
    EXPECT_NE(std::find(parts.begin(), parts.end(), "vad_wait"), parts.end());
    EXPECT_NE(std::find(parts.begin(), parts.end(), "server_first_audio"), parts.end());
  }
  // Speaking starts once per reply, after the user's turn ended; the recording holds the reply.
  const auto events = run.events();
  std::vector<int64_t> turn_ends, speaking;
  for (const auto& [t, type] : events) {
    if (type == "user_turn_end") {
      turn_ends.push_back(t);
    } else if (type == room::Timeline::kAgentSpeakingStart) {
      speaking.push_back(t);
    }
  }
  ASSERT_EQ(turn_ends.size(), 2u) << testing::PrintToString(events);
  ASSERT_EQ(speaking.size(), 2u);
  EXPECT_GT(speaking[0], turns[0].user_speech_end_ms);
  EXPECT_GT(speaking[1], turns[1].user_speech_end_ms);
  EXPECT_LT(speaking[0], turns[1].user_speech_end_ms - 1000); // reply 1 before question 2 ended
  const auto& recording = run.room->recording();
  EXPECT_EQ(first_audible_ms(recording, 0), speaking[0]); // silent until the first reply
}

TEST(DuplexBackend, ReconnectsWithBackoffAfterTheServerDropsTheSession) {
  auto params = test::fast_sim_params();
  params.faults.session = 1;
  params.faults.drop_after_frames = 15;
  auto server = test::start_sim(params);
  ASSERT_TRUE(server);
  test::RecordingObserver observer;
  test::RoomDriver driver;
  DuplexBackend backend(test::backend_options(*server));
  ASSERT_TRUE(backend.start(driver.context(observer)));
  driver.start(backend, 10ms);
  ASSERT_TRUE(test::wait_for([&] { return observer.health().size() >= 2; }))
      << testing::PrintToString(observer.events());
  ASSERT_TRUE(
      server->wait_until([](const auto& s) { return s.size() >= 2 && s[1].steps > 10; }, kWait));
  driver.stop();
  backend.stop();

  EXPECT_EQ(observer.health(), (std::vector<bool>{false, true}));
  const auto errors = observer.errors();
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].kind, ErrorKind::server_closed) << errors[0].message;
  const auto stats = backend.stats();
  EXPECT_EQ(stats.failures, 1);
  EXPECT_EQ(stats.reconnects, 1);
  EXPECT_EQ(stats.sessions_opened, 2);
  EXPECT_TRUE(stats.healthy);
  const auto sessions = server->sessions();
  ASSERT_EQ(sessions.size(), 2u);
  EXPECT_FALSE(sessions[0].faults.empty());
  EXPECT_TRUE(sessions[1].handshake_sent);
  EXPECT_EQ(sessions[1].swallowed_messages, 0);
  EXPECT_TRUE(sessions[1].input_error.empty()) << sessions[1].input_error;
}

TEST(DuplexBackend, APoolsRetryAfterIsHonouredBeforeReconnecting) {
  auto params = test::fast_sim_params();
  params.faults.session = 1;
  params.faults.reject_status = 503;
  params.faults.retry_after = "1";
  auto server = test::start_sim(params);
  ASSERT_TRUE(server);
  test::RecordingObserver observer;
  test::RoomDriver driver;
  auto options = test::backend_options(*server);
  options.reconnect_min_ms = 50; // far below the Retry-After
  options.reconnect_max_ms = 5000;
  DuplexBackend backend(options);
  ASSERT_TRUE(backend.start(driver.context(observer)));
  driver.start(backend, 10ms);
  ASSERT_TRUE(test::wait_for([&] { return observer.health().size() >= 2; }))
      << testing::PrintToString(observer.events());
  const auto recovered = std::chrono::steady_clock::now();
  driver.stop();
  backend.stop();
  const auto errors = observer.errors();
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].kind, ErrorKind::http_rejected);
  EXPECT_EQ(observer.health(), (std::vector<bool>{false, true}));
  // The reconnect waited for the pool's Retry-After (1 s), not the 50 ms backoff floor.
  EXPECT_GE(recovered - observer.error_times()[0], 950ms);
}

TEST(DuplexBackend, ADroppedSessionHandsBackTheTurnItHadNotAnswered) {
  auto params = test::fast_sim_params();
  params.model.end_silence_ms = 1500; // the simulated model answers 1.5 s after the user stops
  auto speech = test::speak("please tell me something about the moon", 48000);
  // Script: 1 s of silence, the question, then silence. Model frames (80 ms) count from the
  // handshake, which comes before the first tick (see below): drop ~1 s after the user stopped,
  // after our VAD ended the turn (0.5 s) and before the model's answer (1.5 s).
  const int speech_end_ms = 1000 + static_cast<int>(speech.size() / 48);
  params.faults.drop_after_frames = (speech_end_ms + 1000) / 80;
  auto server = test::start_sim(params);
  ASSERT_TRUE(server);
  std::vector<int16_t> input = test::silence(48000, 1000);
  test::append(input, speech);
  test::append(input, test::silence(48000, 3000));
  test::RecordingObserver observer;
  test::RoomDriver driver(input);
  auto options = test::backend_options(*server);
  options.reconnect_min_ms = 5000; // no reconnect during the test
  DuplexBackend backend(options);
  ASSERT_TRUE(backend.start(driver.context(observer)));
  // Tick only once the handshake is there, so that media time and model time line up.
  ASSERT_TRUE(
      server->wait_until([](const auto& s) { return !s.empty() && s[0].handshake_sent; }, kWait));
  driver.start(backend, 20ms);
  ASSERT_TRUE(test::wait_for([&] { return !observer.errors().empty(); }))
      << testing::PrintToString(observer.events());
  driver.stop();
  backend.stop();
  const auto errors = observer.errors();
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].kind, ErrorKind::server_closed);
  ASSERT_TRUE(errors[0].unanswered) << testing::PrintToString(observer.events());
  EXPECT_EQ(errors[0].unanswered->turn_id, 1u);
  EXPECT_EQ(errors[0].unanswered->pcm.sample_rate, 16000);
  // The utterance: the spoken question (+ the VAD's pre-roll and trailing keep).
  const int64_t spoken_ms = static_cast<int64_t>(speech.size() / 48);
  EXPECT_GT(errors[0].unanswered->pcm.duration_ms(), spoken_ms - 400);
  EXPECT_LT(errors[0].unanswered->pcm.duration_ms(), spoken_ms + 800);
  EXPECT_EQ(server->sessions().at(0).replies, 0);
  const auto events = observer.events();
  EXPECT_EQ(std::count(events.begin(), events.end(), "turn:1"), 0) << "no report for it";
}

TEST(DuplexBackend, SpeakingNotAllowedSilencesTheOutputButKeepsTheSession) {
  auto params = test::fast_sim_params();
  params.model.fixed_reply = "This is my answer, and it goes on for a little while.";
  auto server = test::start_sim(params);
  ASSERT_TRUE(server);
  std::vector<int16_t> input = test::speak("what is your answer", 48000);
  test::append(input, test::silence(48000, 5000));
  test::append(input, test::speak("and what now", 48000));
  test::append(input, test::silence(48000, 5000));
  test::RecordingObserver observer;
  test::RoomDriver driver(input);
  DuplexBackend backend(test::backend_options(*server));
  ASSERT_TRUE(backend.start(driver.context(observer)));
  backend.set_speaking_allowed(false); // e.g. the room's speaking time is up
  driver.start(backend, 20ms);
  ASSERT_TRUE(test::wait_for([&] { return observer.turns().size() >= 1; }))
      << testing::PrintToString(observer.events());
  const int64_t allowed_at = driver.media_ms();
  backend.set_speaking_allowed(true);
  ASSERT_TRUE(test::wait_for([&] { return observer.turns().size() >= 2; }))
      << testing::PrintToString(observer.events());
  driver.stop();
  backend.stop();

  // The model did answer the first question (its text is there), but the room heard nothing.
  const auto turns = observer.turns();
  EXPECT_EQ(turns[0].agent_text, params.model.fixed_reply);
  EXPECT_EQ(turns[1].agent_text, params.model.fixed_reply);
  const auto out = driver.output();
  const std::size_t split = static_cast<std::size_t>(allowed_at) * 48;
  ASSERT_LT(split, out.size());
  EXPECT_LT(test::level_dbfs(std::span<const int16_t>(out).first(split)), -90.0);
  EXPECT_GT(test::level_dbfs(std::span<const int16_t>(out).subspan(split)), -40.0);
  // One session throughout: the gate did not touch it.
  EXPECT_TRUE(observer.errors().empty());
  const auto sessions = server->sessions();
  ASSERT_EQ(sessions.size(), 1u);
  EXPECT_EQ(sessions[0].replies, 2);
}

// --- context window ------------------------------------------------------------------------------

struct SwapRun {
  std::vector<sim::SimSessionReport> sessions;
  DuplexStats stats;
  std::vector<room::TimelineTurn> turns;
  std::vector<int16_t> recording;
  std::vector<PromptContext> prompts;
  std::vector<std::pair<int64_t, std::string>> events;
};

// The question/answer run of the swap tests: `params` for the simulator, `tweak` for the options;
// `errors` is the number of backend errors the agent must have seen.
SwapRun run_swap_with(const sim::SimParams& params,
                      const std::function<void(BackendOptions&)>& tweak, int errors) {
  auto server = test::start_sim(params);
  EXPECT_TRUE(server);
  // Question 1 at 0.5 s, question 2 at 9 s; the session's window is 8 s.
  std::vector<int16_t> input = test::speak("hello there, how are you doing today", 48000);
  test::append(input, test::silence(48000, 8500 - static_cast<int>(input.size() / 48)));
  test::append(input, test::speak("what do you think about the weather", 48000));
  RoomRun run(input, 4000);
  auto options = test::backend_options(*server);
  options.session_max_s = 8;
  tweak(options);
  SwapRun result;
  std::mutex prompts_mutex;
  options.prompt = [&](std::size_t budget, const PromptContext& context) {
    std::lock_guard lock(prompts_mutex);
    result.prompts.push_back(context);
    return fixed_prompt_builder("You are a test.")(budget, context);
  };
  DuplexBackend backend(options);
  agent::Agent agent(agent::AgentParams{}, *run.room, run.timeline, backend);
  EXPECT_TRUE(agent.run(run.stop));
  EXPECT_EQ(agent.error_count(), errors);
  server->wait_until(
      [](const auto& s) {
        return std::all_of(s.begin(), s.end(), [](const auto& r) { return r.ended; });
      },
      kWait);
  result.sessions = server->sessions();
  result.stats = backend.stats();
  result.turns = run.timeline.turns();
  result.recording = run.room->recording();
  result.events = run.events();
  return result;
}

SwapRun run_swap(int max_sessions) {
  auto params = test::fast_sim_params();
  params.max_sessions = max_sessions;
  return run_swap_with(
      params, [](BackendOptions&) {}, 0);
}

// A pool that refuses the replacement (session 2), whose retry is then still in backoff.
sim::SimParams refusing_replacement_params() {
  auto params = test::fast_sim_params();
  params.max_sessions = 2;
  params.faults.session = 2;
  params.faults.reject_status = 503;
  params.faults.retry_after = "";
  return params;
}

void retry_replacement_much_later(BackendOptions& options) {
  options.reconnect_min_ms = 60000; // the replacement's retry stays in backoff throughout
  options.reconnect_max_ms = 60000;
}

TEST(DuplexBackend, ContextWindowSwitchesToAReplacementSessionWithoutAGap) {
  const SwapRun run = run_swap(2); // a pool: the replacement runs alongside the old session
  EXPECT_GE(run.stats.swaps, 1);
  EXPECT_EQ(run.stats.gapped_swaps, 0);
  EXPECT_EQ(run.stats.crossfades, 0);
  EXPECT_EQ(run.stats.failures, 0);
  ASSERT_GE(run.sessions.size(), 2u);
  // The old session was closed cleanly; the new one heard the room from its handshake on.
  EXPECT_NE(run.sessions[0].end_reason.find("closed (1000)"), std::string::npos)
      << run.sessions[0].end_reason;
  EXPECT_EQ(run.sessions[1].swallowed_messages, 0);
  EXPECT_TRUE(run.sessions[1].input_error.empty());
  // Its prompt carried what the agent had said (reply 1).
  ASSERT_GE(run.prompts.size(), 2u);
  EXPECT_TRUE(run.prompts[0].agent_said.empty());
  ASSERT_EQ(run.prompts[1].agent_said.size(), 1u);
  ASSERT_FALSE(run.sessions[0].reply_texts.empty());
  EXPECT_EQ(run.prompts[1].agent_said[0], run.sessions[0].reply_texts[0]);

  // Both questions were answered, the second one by the replacement, with a normal latency.
  ASSERT_EQ(run.turns.size(), 2u);
  EXPECT_EQ(run.turns[0].agent_text, run.sessions[0].reply_texts[0]);
  ASSERT_FALSE(run.sessions[1].reply_texts.empty());
  EXPECT_EQ(run.turns[1].agent_text, run.sessions[1].reply_texts[0]);
  for (const auto& turn : run.turns) {
    ASSERT_FALSE(turn.latency_ms.empty());
    EXPECT_LT(turn.latency_ms[0].second, 3000.0) << "a hole before the answer";
  }
  // The switch happened at a silence between the replies: no click, no cut-off reply.
  const int64_t swap = run.stats.first_swap_media_ms;
  ASSERT_GT(swap, run.turns[0].first_agent_audio_ms);
  ASSERT_LT(swap, run.turns[1].user_speech_end_ms);
  const std::size_t at = static_cast<std::size_t>(swap) * 48;
  ASSERT_LT(at + 9600, run.recording.size());
  const auto around = std::span<const int16_t>(run.recording).subspan(at - 9600, 19200);
  EXPECT_LT(test::level_dbfs(around), -50.0);
  EXPECT_LT(testsupport::max_abs_step(around), 200);
  // Reply 1 played to its end before the switch: audible, then >= swap_quiet_ms of quiet.
  int64_t last_audible = -1;
  for (std::size_t i = 0; i + 960 <= at; i += 960) {
    if (test::level_dbfs(std::span<const int16_t>(run.recording).subspan(i, 960)) > -50.0) {
      last_audible = static_cast<int64_t>(i / 48) + 20;
    }
  }
  EXPECT_GE(swap - last_audible, 240);
}

TEST(DuplexBackend, AOneSessionServerGetsTheSwitchWithAGapButKeepsAnswering) {
  const SwapRun run = run_swap(1); // the reference server: the replacement queues
  EXPECT_GE(run.stats.gapped_swaps, 1);
  EXPECT_EQ(run.stats.failures, 0);
  EXPECT_TRUE(run.stats.healthy);
  ASSERT_GE(run.sessions.size(), 2u);
  EXPECT_GE(run.sessions[1].queued_behind, 1);
  EXPECT_TRUE(run.sessions[1].handshake_sent);
  ASSERT_EQ(run.turns.size(), 2u);
  ASSERT_FALSE(run.sessions[1].reply_texts.empty());
  EXPECT_EQ(run.turns[1].agent_text, run.sessions[1].reply_texts[0]);
  for (const auto& [t, type] : run.events) {
    EXPECT_NE(type, "fallback_on") << t;
  }
}

TEST(DuplexBackend, ContextWindowReconnectsWithAGapWhenTheReplacementFailed) {
  // The replacement is refused and its retry is in backoff at the pause after session_max_s: the
  // old session must not run on; a fresh session takes over with a gap and answers question 2.
  const SwapRun run = run_swap_with(refusing_replacement_params(), retry_replacement_much_later, 1);
  EXPECT_EQ(run.stats.gapped_swaps, 1); // (the fresh session may later swap seamlessly again)
  EXPECT_EQ(run.stats.failures, 0);
  EXPECT_TRUE(run.stats.healthy);
  ASSERT_GE(run.sessions.size(), 3u);
  EXPECT_EQ(run.sessions[1].state, sim::SimSessionState::rejected);
  EXPECT_NE(run.sessions[0].end_reason.find("closed (1000)"), std::string::npos)
      << run.sessions[0].end_reason;
  EXPECT_TRUE(run.sessions[2].handshake_sent);
  // The switch came at the pause past the 8 s window, before question 2 ended.
  ASSERT_EQ(run.turns.size(), 2u);
  EXPECT_GE(run.stats.first_swap_media_ms, 8000);
  EXPECT_LT(run.stats.first_swap_media_ms, run.turns[1].user_speech_end_ms);
  // The fresh session answered question 2; its prompt carried reply 1.
  ASSERT_FALSE(run.sessions[2].reply_texts.empty());
  EXPECT_EQ(run.turns[1].agent_text, run.sessions[2].reply_texts[0]);
  ASSERT_GE(run.prompts.size(), 3u);
  ASSERT_EQ(run.prompts[2].agent_said.size(), 1u);
  EXPECT_EQ(run.prompts[2].agent_said[0], run.sessions[0].reply_texts[0]);
  for (const auto& [t, type] : run.events) {
    EXPECT_NE(type, "fallback_on") << t;
  }
}

TEST(DuplexBackend, ContextWindowHasAHardLimitEvenWithoutAPause) {
  // No pause ever qualifies (swap_quiet_ms out of reach) and the replacement failed: at
  // session_max_s + swap_force_after_s the old session is replaced all the same.
  auto server = test::start_sim(refusing_replacement_params());
  ASSERT_TRUE(server);
  test::RecordingObserver observer;
  test::RoomDriver driver;
  auto options = test::backend_options(*server);
  options.session_max_s = 4;
  options.swap_force_after_s = 2;
  options.swap_quiet_ms = 1000000;
  retry_replacement_much_later(options);
  DuplexBackend backend(options);
  ASSERT_TRUE(backend.start(driver.context(observer)));
  driver.start(backend, 10ms); // the simulator is input-clocked: twice real time is fine
  ASSERT_TRUE(test::wait_for([&] {
    const auto stats = backend.stats();
    return stats.gapped_swaps >= 1 && stats.active_label == "pp-3" &&
           server->sessions().size() >= 3 && server->sessions()[2].handshake_sent;
  })) << testing::PrintToString(observer.events());
  const auto sent_before = server->sessions()[2].input_messages;
  ASSERT_TRUE(test::wait_for([&] { return server->sessions()[2].input_messages > sent_before; }));
  driver.stop();
  backend.stop();
  server->wait_until(
      [](const auto& s) {
        return std::all_of(s.begin(), s.end(), [](const auto& r) { return r.ended; });
      },
      kWait);
  const auto stats = backend.stats();
  EXPECT_EQ(stats.gapped_swaps, 1);
  EXPECT_EQ(stats.swaps, 0);
  EXPECT_EQ(stats.failures, 0);
  // The age counts from the first session's handshake: the switch is not before the hard limit.
  EXPECT_GE(stats.first_swap_media_ms, 6000);
  const auto sessions = server->sessions();
  EXPECT_EQ(sessions[1].state, sim::SimSessionState::rejected);
  EXPECT_NE(sessions[0].end_reason.find("closed (1000)"), std::string::npos)
      << sessions[0].end_reason;
  ASSERT_EQ(observer.errors().size(), 1u); // the refused replacement; health never flipped
  EXPECT_EQ(observer.errors()[0].kind, ErrorKind::http_rejected);
  EXPECT_TRUE(observer.health().empty());
}

} // namespace
} // namespace pv::personaplex
