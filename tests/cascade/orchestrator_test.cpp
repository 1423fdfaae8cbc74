// Behaviour of the cascade orchestrator: barge-in, pending turns, failures and stalls of every
// provider, greeting/opener, fillers, gating, the PersonaPlex fallback seam, reactions.
// Real pocketsphinx (JSGF test grammar: exact transcripts) and flite for the user's voice; the LLM
// and (mostly) the TTS are in-test implementations of our own interfaces, so that each behaviour
// can be provoked. Rooms run in lockstep (OrchestratorParams::sync_wait_ms): assertions are on
// order, content and counts, never on wall-clock timing.

#include "cascade/llm/offline_responder.hpp"
#include "cascade/prompts.hpp"
#include "orchestrator_test_util.hpp"
#include "support/signal.hpp"

#include <gtest/gtest.h>

namespace pv::cascade {
namespace {

using namespace testing;
using conversation::ErrorKind;

struct Harness {
  explicit Harness(OrchestratorParams params, std::vector<std::string> replies = {"Okay then."},
                   bool speech_tts = false)
      : llm(std::make_shared<ScriptedLlm>(std::move(replies))), tts(std::make_shared<TestTts>()),
        asr(std::make_shared<FaultyAsr>(grammar_asr())) {
    tts->speech = speech_tts;
    auto created = Orchestrator::create(std::move(params), {asr, llm, tts});
    EXPECT_TRUE(created.has_value()) << (created ? "" : created.error().message);
    orchestrator = std::move(*created);
    room = std::make_unique<TestRoom>(*orchestrator, recorder);
  }
  void start() { room->start(); }
  // The user says a sentence of the test grammar, then is silent until its turn has ended.
  void user(const std::string& text) {
    const std::size_t ends = recorder.turn_ends().size();
    room->say(speak(text));
    ASSERT_TRUE(room->run_until([&] { return recorder.turn_ends().size() > ends; }, 3000))
        << "no end of turn for '" << text << "'";
  }
  bool wait_reports(std::size_t n, int max_ms = 20000) {
    return room->run_until([&] { return recorder.report_count() >= n; }, max_ms);
  }

  std::shared_ptr<ScriptedLlm> llm;
  std::shared_ptr<TestTts> tts;
  std::shared_ptr<FaultyAsr> asr;
  std::unique_ptr<Orchestrator> orchestrator;
  Recorder recorder;
  std::unique_ptr<TestRoom> room;
};

bool silent(const std::vector<int16_t>& v, std::size_t from, std::size_t to) {
  to = std::min(to, v.size());
  return std::all_of(v.begin() + static_cast<std::ptrdiff_t>(std::min(from, to)),
                     v.begin() + static_cast<std::ptrdiff_t>(to), [](int16_t s) { return s == 0; });
}

std::vector<std::string> tts_texts(const TestTts& tts) {
  std::vector<std::string> out;
  for (const auto& c : tts.calls()) {
    out.push_back(c.text);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------

TEST(Orchestrator, AnswersATurnWithTheEmbeddedProvidersAndRemembersIt) {
  auto params = test_params();
  auto created = Orchestrator::create(
      params, {grammar_asr(), std::make_shared<OfflineResponder>(), shared_flite()});
  ASSERT_TRUE(created.has_value());
  Recorder recorder;
  TestRoom room(**created, recorder);
  room.start();
  room.silence(200);
  room.say(speak("what is the weather like today"));
  ASSERT_TRUE(room.run_until([&] { return recorder.report_count() == 1; }, 15000));

  const auto reports = recorder.reports();
  EXPECT_EQ(reports[0].turn_id, 1u);
  EXPECT_EQ(reports[0].user_text, "what is the weather like today");
  EXPECT_FALSE(reports[0].interrupted);
  // The responder's reply arrives intact through splitter, safety gate and TTS.
  LlmRequest expected;
  expected.messages = build_reply_messages(
      find_persona("default"), std::vector<MemoryTurn>{{Role::user, reports[0].user_text}},
      build_feedback_line(FeedbackSnapshot{}));
  EXPECT_EQ(reports[0].agent_text, OfflineResponder::compose_reply(expected));
  const auto memory = (*created)->memory();
  ASSERT_EQ(memory.size(), 2u);
  EXPECT_EQ(memory[0].content, "what is the weather like today");
  EXPECT_EQ(memory[1].role, Role::assistant);
  EXPECT_EQ(memory[1].content, reports[0].agent_text);
  // It was said out loud: seconds of flite speech went to the room.
  EXPECT_GT(room.audible_frames(), 50);
  std::map<std::string, double> parts(reports[0].latency_parts_ms.begin(),
                                      reports[0].latency_parts_ms.end());
  for (const char* part : {"vad_wait", "asr", "llm_first_token", "tts_first_chunk"}) {
    EXPECT_TRUE(parts.count(part)) << part;
  }
  EXPECT_EQ(parts["vad_wait"], params.vad.silence_ms - audio::kFrameMs);
  EXPECT_TRUE((*created)->idle());
  EXPECT_EQ((*created)->state(), OrchestratorState::idle);
}

TEST(Orchestrator, BargeInStopsPlayoutAtOnceCancelsLlmAndTtsAndKeepsOnlyTheHeardWords) {
  auto params = test_params(10); // the LLM blocks mid-reply: ticks must not wait for it
  params.lookahead_ms = 600;
  Harness h(params, {"First sentence is here. Secondly everything comes next. Third one ends it.",
                     "Football sounds fun."});
  h.llm->set_stall_after(0, 9); // two sentences (+1 word), then the LLM hangs until cancelled
  h.tts->ms_per_char = 40;      // sentence 1: 920 ms, sentence 2: 1240 ms
  h.start();
  h.user("hello world");
  ASSERT_TRUE(h.room->run_until([&] { return h.room->audible_frames() > 0; }, 3000));
  const std::size_t reply_start = h.room->output().size() - 960;
  h.room->silence(940); // 960 ms into the reply (in sentence 2)

  auto interruption = speak("let us talk about football tonight");
  interruption.samples = trimmed(interruption.samples);
  h.room->say(interruption);
  ASSERT_EQ(h.recorder.barge_ins().size(), 1u);
  const auto barge = h.recorder.barge_ins()[0];
  EXPECT_EQ(barge.turn_id, 1u);
  EXPECT_GE(barge.stop_latency_ms, 0.0);

  // Nothing the agent says after the frame in which barge-in was decided, until it answers.
  ASSERT_TRUE(h.wait_reports(2));
  const auto frame_after = static_cast<std::size_t>(barge.room_ms / 20 + 1) * 960;
  const auto second_turn_end = h.recorder.turn_ends().at(1).second;
  EXPECT_TRUE(
      silent(h.room->output(), frame_after, static_cast<std::size_t>(second_turn_end + 400) * 48));
  // The reply was heard for ~1.3 s: all of sentence 1 and the first word of sentence 2.
  const std::size_t heard_samples = frame_after - reply_start;
  EXPECT_GT(heard_samples, 920u * 48) << "barge-in came before sentence 2";
  EXPECT_LT(heard_samples, 1500u * 48);

  const auto reports = h.recorder.reports();
  EXPECT_TRUE(reports[0].interrupted);
  EXPECT_EQ(reports[0].user_text, "hello world");
  EXPECT_EQ(reports[0].agent_text, "First sentence is here. Secondly");
  EXPECT_EQ(reports[1].user_text, "let us talk about football tonight");
  EXPECT_EQ(reports[1].agent_text, "Football sounds fun.");
  EXPECT_FALSE(reports[1].interrupted);

  const auto calls = h.llm->calls();
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_TRUE(calls[0].returned);
  EXPECT_TRUE(calls[0].saw_cancel) << "the LLM was not cancelled";
  // Sentence 3 was never synthesized (it was waiting for look-ahead room).
  EXPECT_EQ(tts_texts(*h.tts),
            (std::vector<std::string>{"First sentence is here.", "Secondly everything comes next.",
                                      "Football sounds fun."}));
  // Memory holds what the room heard, so the next prompt did too.
  const auto memory = h.orchestrator->memory();
  ASSERT_EQ(memory.size(), 4u);
  EXPECT_EQ(memory[1].content, "First sentence is here. Secondly");
  EXPECT_EQ(calls[1].messages.back().content, "let us talk about football tonight");
  EXPECT_NE(calls[1].messages[calls[1].messages.size() - 2].content.find("Secondly"),
            std::string::npos);
  const auto stats = h.orchestrator->stats();
  EXPECT_EQ(stats.barge_ins, 1);
  EXPECT_EQ(stats.replies_cut, 1);
  EXPECT_EQ(stats.replies_completed, 1);
}

TEST(Orchestrator, BargeInWorksInARealTimeRoomToo) {
  auto params = test_params(0); // live: the clock thread never waits for the pipeline
  Harness h(params, {"First sentence is here. Secondly everything comes next. Third one ends it.",
                     "Football sounds fun."});
  h.room->set_realtime(true);
  h.start();
  h.user("hello world");
  ASSERT_TRUE(h.room->run_until([&] { return h.room->audible_frames() > 0; }, 3000));
  h.room->silence(500);
  auto interruption = speak("let us talk about football tonight");
  interruption.samples = trimmed(interruption.samples);
  h.room->say(interruption);
  ASSERT_TRUE(h.wait_reports(2, 10000));
  const auto barge_ins = h.recorder.barge_ins();
  ASSERT_EQ(barge_ins.size(), 1u);
  const auto frame_after = static_cast<std::size_t>(barge_ins[0].room_ms / 20 + 1) * 960;
  const auto second_turn_end = h.recorder.turn_ends().at(1).second;
  EXPECT_TRUE(
      silent(h.room->output(), frame_after, static_cast<std::size_t>(second_turn_end + 400) * 48));
  const auto reports = h.recorder.reports();
  EXPECT_TRUE(reports[0].interrupted);
  const std::string full =
      "First sentence is here. Secondly everything comes next. Third one ends it.";
  EXPECT_FALSE(reports[0].agent_text.empty());
  EXPECT_EQ(full.rfind(reports[0].agent_text, 0), 0u) << "heard text is a prefix of the reply";
  EXPECT_LT(reports[0].agent_text.size(), full.size());
  EXPECT_EQ(reports[1].agent_text, "Football sounds fun.");
  EXPECT_EQ(h.orchestrator->memory().at(1).content, reports[0].agent_text);
}

TEST(Orchestrator, AStalledWorkerNeverBlocksTheClockAndLostFramesAreCounted) {
  auto params = test_params(0);
  params.frame_queue_frames = 8;
  Harness h(params, {"Still here."});
  Latch release;
  std::atomic<bool> blocked{false};
  h.recorder.speech_start_hook = [&] {
    if (!blocked.exchange(true)) {
      release.wait(CancelToken{}, 20s); // the worker is stuck in an observer callback
    }
  };
  h.room->set_realtime(true); // the worker keeps up until it gets stuck
  h.start();
  h.room->say(speak("hello world"));
  ASSERT_TRUE(h.room->run_until([&] { return blocked.load(); }, 2000));
  h.room->set_realtime(false);
  for (int i = 0; i < 100; ++i) {
    h.room->tick(); // the clock goes on: each tick hands a frame over without waiting
  }
  h.room->set_realtime(true);
  release.open();
  const int64_t dropped = h.orchestrator->stats().frames_dropped;
  EXPECT_GE(dropped, 100 - 8);
  // The backend recovers and answers the next utterance.
  h.room->silence(1000);
  const std::size_t before = h.recorder.report_count();
  h.room->say(speak("good morning everyone"));
  ASSERT_TRUE(h.wait_reports(before + 1, 10000));
  EXPECT_EQ(h.recorder.reports().back().user_text, "good morning everyone");
  EXPECT_EQ(h.recorder.reports().back().agent_text, "Still here.");
}

TEST(Orchestrator, ReplyLongerThanThePlayoutBufferIsPacedNotDroppedAndHasNoClicks) {
  auto params = test_params();
  params.playout_capacity_ms = 1000; // the 3 s sentence must wait for room, three times over
  params.lookahead_ms = 500;
  const std::string text = "A single long sentence of steady tone..."; // 40 chars
  Harness h(params, {text});
  h.tts->rate_hz = 16000; // flite's rate: 16 kHz -> 48 kHz, in 100 ms chunks
  h.tts->ms_per_char = 75;
  h.start();
  const std::size_t before_user = h.room->output().size();
  h.user("hello world");
  ASSERT_TRUE(h.wait_reports(1));
  const auto& out = h.room->output();
  std::size_t first = before_user; // (in lockstep the reply starts in the turn's last tick)
  while (first < out.size() && out[first] == 0) {
    ++first;
  }
  std::size_t last = out.size();
  while (last > first && out[last - 1] == 0) {
    --last;
  }
  // Every sample the TTS made was played: 3 s at 48 kHz (give or take the resampler's filter).
  const auto expected = static_cast<std::size_t>(h.tts->samples_for(text) * 3);
  EXPECT_NEAR(static_cast<double>(last - first), static_cast<double>(expected), 480.0);
  // One continuous sine: no gap or step where a chunk or a refill of the buffer joined.
  const std::span<const int16_t> steady(out.data() + first + 960, last - first - 2 * 960);
  const auto fit = testsupport::fit_sine(steady, 48000, 300.0);
  EXPECT_NEAR(fit.amplitude, 8000.0 / 32767.0, 0.005);
  EXPECT_LT(fit.residual_max, 40.0) << "a click or gap in the reply";
  EXPECT_EQ(h.recorder.reports()[0].agent_text, text);
}

TEST(Orchestrator, UtterancesDuringAReplyAreQueuedAndAnsweredInOrder) {
  Harness h(test_params(10), {"Reply to the first.", "Reply to the second."});
  h.llm->set_fault(0, Fault::gate); // the first answer takes a while
  h.start();
  h.user("hello world");
  h.user("good morning everyone");
  EXPECT_EQ(h.llm->calls().size(), 1u) << "the second turn must wait for the first";
  EXPECT_EQ(h.orchestrator->state(), OrchestratorState::thinking);
  EXPECT_FALSE(h.orchestrator->idle());
  h.llm->gate().open();
  ASSERT_TRUE(h.wait_reports(2));

  const auto reports = h.recorder.reports();
  EXPECT_EQ(reports[0].turn_id, 1u);
  EXPECT_EQ(reports[0].user_text, "hello world");
  EXPECT_EQ(reports[0].agent_text, "Reply to the first.");
  EXPECT_EQ(reports[1].turn_id, 2u);
  EXPECT_EQ(reports[1].user_text, "good morning everyone");
  EXPECT_EQ(reports[1].agent_text, "Reply to the second.");
  const auto calls = h.llm->calls();
  ASSERT_EQ(calls.size(), 2u);
  const auto& m = calls[1].messages;
  ASSERT_GE(m.size(), 4u);
  EXPECT_EQ(m[m.size() - 3].content, "hello world");
  EXPECT_EQ(m[m.size() - 2].content, "Reply to the first.");
  EXPECT_EQ(m[m.size() - 1].content, "good morning everyone");
  EXPECT_TRUE(h.recorder.barge_ins().empty());
  EXPECT_TRUE(h.recorder.errors().empty());
  EXPECT_EQ(h.tts->calls().size(), 2u);
  EXPECT_EQ(h.orchestrator->stats().max_queued_turns, 1);
}

TEST(Orchestrator, BeyondTheQueueBoundTurnsAreMergedNotDropped) {
  auto params = test_params(10);
  params.max_pending_turns = 1;
  Harness h(params, {"First answer.", "Second answer."});
  h.llm->set_fault(0, Fault::gate);
  h.start();
  h.user("hello world");
  h.user("good morning everyone");
  h.user("how are you doing today");
  h.llm->gate().open();
  ASSERT_TRUE(h.wait_reports(3));
  const auto calls = h.llm->calls();
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_EQ(calls[1].messages.back().content, "good morning everyone how are you doing today");
  const auto reports = h.recorder.reports();
  EXPECT_EQ(reports[1].turn_id, 2u);
  EXPECT_EQ(reports[1].agent_text, "Second answer.");
  EXPECT_EQ(reports[2].turn_id, 3u);
  EXPECT_EQ(reports[2].user_text, "how are you doing today");
  EXPECT_EQ(reports[2].agent_text, "") << "answered together with turn 2";
  EXPECT_EQ(h.orchestrator->stats().merged_turns, 1);
}

// --- every provider failing or stalling: reported once, the agent answers the next turn ---

enum class Failure { llm_fail, llm_stall, tts_fail, tts_stall, asr_fail, asr_stall };

std::string failure_name(const ::testing::TestParamInfo<Failure>& info) {
  switch (info.param) {
  case Failure::llm_fail:
    return "LlmFails";
  case Failure::llm_stall:
    return "LlmStalls";
  case Failure::tts_fail:
    return "TtsFails";
  case Failure::tts_stall:
    return "TtsStalls";
  case Failure::asr_fail:
    return "AsrFails";
  case Failure::asr_stall:
    return "AsrStalls";
  }
  return "?";
}

class OrchestratorFailure : public ::testing::TestWithParam<Failure> {};

TEST_P(OrchestratorFailure, IsReportedOnceAndTheNextTurnIsAnswered) {
  auto params = test_params(10);
  params.llm_first_token_timeout = 300ms;
  params.tts_timeout = 300ms;
  params.asr_timeout = 300ms;
  params.watchdog_grace = 100ms;
  Harness h(params, {"Nice to meet you.", "Mornings are great."});
  const Failure failure = GetParam();
  switch (failure) {
  case Failure::llm_fail:
    h.llm->set_fault(0, Fault::fail);
    break;
  case Failure::llm_stall:
    h.llm->set_fault(0, Fault::stall);
    break;
  case Failure::tts_fail:
    h.tts->set_fault(0, Fault::fail);
    break;
  case Failure::tts_stall:
    h.tts->set_fault(0, Fault::stall);
    break;
  case Failure::asr_fail:
    h.asr->set_fault(0, Fault::fail);
    break;
  case Failure::asr_stall:
    h.asr->set_fault(0, Fault::stall);
    break;
  }
  h.start();
  h.user("hello world");
  ASSERT_TRUE(h.wait_reports(1)) << "the failed turn never completed (wedged)";
  h.user("good morning everyone");
  ASSERT_TRUE(h.wait_reports(2)) << "the agent is deaf after the failure";

  const auto errors = h.recorder.errors();
  ASSERT_EQ(errors.size(), 1u);
  const bool stall = failure == Failure::llm_stall || failure == Failure::tts_stall ||
                     failure == Failure::asr_stall;
  const ErrorKind expected_kind = stall                          ? ErrorKind::provider_timeout
                                  : failure == Failure::llm_fail ? ErrorKind::llm_failed
                                  : failure == Failure::tts_fail ? ErrorKind::tts_failed
                                                                 : ErrorKind::asr_failed;
  EXPECT_EQ(errors[0].kind, expected_kind) << conversation::to_string(errors[0].kind);

  const auto reports = h.recorder.reports();
  EXPECT_FALSE(reports[0].interrupted);
  if (failure == Failure::llm_fail || failure == Failure::llm_stall) {
    EXPECT_EQ(reports[0].user_text, "hello world");
    EXPECT_EQ(reports[0].agent_text, params.apology_text) << "a spoken apology";
  } else if (failure == Failure::tts_fail || failure == Failure::tts_stall) {
    EXPECT_EQ(reports[0].user_text, "hello world");
    EXPECT_EQ(reports[0].agent_text, "") << "nothing reached the room";
  } else {
    EXPECT_EQ(reports[0].user_text, "");
    EXPECT_EQ(reports[0].agent_text, params.not_heard_text);
  }
  EXPECT_EQ(reports[1].user_text, "good morning everyone");
  EXPECT_FALSE(reports[1].agent_text.empty());
  const auto memory = h.orchestrator->memory();
  ASSERT_FALSE(memory.empty());
  EXPECT_EQ(memory.back().content, reports[1].agent_text);
  EXPECT_GT(h.room->audible_frames(), 10) << "the second answer was spoken";
  if (stall) {
    EXPECT_GE(h.orchestrator->stats().watchdog_cancels, 1);
  }
  if (failure == Failure::llm_stall) {
    EXPECT_TRUE(h.llm->calls()[0].saw_cancel);
  }
  if (failure == Failure::tts_stall) {
    EXPECT_TRUE(h.tts->calls()[0].saw_cancel);
  }
  EXPECT_TRUE(h.room->run_until([&] { return h.orchestrator->idle(); }, 5000));
}

INSTANTIATE_TEST_SUITE_P(EveryProvider, OrchestratorFailure,
                         ::testing::Values(Failure::llm_fail, Failure::llm_stall, Failure::tts_fail,
                                           Failure::tts_stall, Failure::asr_fail,
                                           Failure::asr_stall),
                         failure_name);

// --- greeting and opener never overlap a user turn ---

TEST(Orchestrator, GreetingPlaysInASilentRoomAfterItsDelay) {
  auto params = test_params();
  params.greeting_text = "Welcome to the room.";
  params.greeting_delay_ms = 400;
  Harness h(params);
  h.start();
  EXPECT_FALSE(h.orchestrator->idle()) << "a greeting is due";
  ASSERT_TRUE(h.wait_reports(1, 3000));
  const auto reports = h.recorder.reports();
  EXPECT_EQ(reports[0].user_text, "");
  EXPECT_EQ(reports[0].agent_text, "Welcome to the room.");
  EXPECT_EQ(tts_texts(*h.tts), std::vector<std::string>{"Welcome to the room."});
  // Nothing before the delay.
  EXPECT_TRUE(silent(h.room->output(), 0, 400u * 48));
  EXPECT_GT(h.room->audible_frames(), 20);
  EXPECT_EQ(h.orchestrator->stats().greetings, 1);
  EXPECT_TRUE(h.llm->calls().empty()) << "a greeting needs no LLM";
}

TEST(Orchestrator, GreetingWaitsWhileTheUserSpeaksAndIsSkippedOnceTheyHaveSpoken) {
  auto params = test_params();
  params.greeting_text = "Welcome to the room.";
  params.greeting_delay_ms = 800;
  Harness h(params, {"Hello to you."});
  h.start();
  h.room->silence(100);
  h.user("i would like to hear a story about dragons"); // talks across the greeting's due time
  ASSERT_TRUE(h.wait_reports(1));
  h.room->silence(1000);
  const auto reports = h.recorder.reports();
  ASSERT_EQ(reports.size(), 1u);
  EXPECT_EQ(reports[0].agent_text, "Hello to you.");
  EXPECT_EQ(tts_texts(*h.tts), std::vector<std::string>{"Hello to you."});
  EXPECT_EQ(h.orchestrator->stats().openings_skipped, 1);
  EXPECT_EQ(h.orchestrator->stats().greetings, 0);
}

TEST(Orchestrator, AnOpenerStillThinkingIsDroppedWhenTheUserStartsSpeaking) {
  auto params = test_params(10);
  params.opener_enabled = true;
  params.opener_delay_ms = 200;
  params.topic_seed = "football";
  Harness h(params, {"Welcome everyone, today we talk about football.", "Hello back."});
  h.llm->set_fault(0, Fault::gate); // the opener's LLM is slow
  h.start();
  ASSERT_TRUE(h.room->run_until([&] { return h.llm->calls().size() == 1; }, 2000));
  EXPECT_EQ(h.llm->calls()[0].purpose, LlmPurpose::opener);
  h.user("hello world");
  ASSERT_TRUE(h.wait_reports(1));
  h.llm->gate().open();
  h.room->silence(500);

  const auto calls = h.llm->calls();
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_TRUE(calls[0].saw_cancel);
  EXPECT_EQ(calls[1].purpose, LlmPurpose::reply);
  const auto reports = h.recorder.reports();
  ASSERT_EQ(reports.size(), 1u) << "the opener was never heard: no turn for it";
  EXPECT_EQ(reports[0].agent_text, "Hello back.");
  EXPECT_EQ(tts_texts(*h.tts), std::vector<std::string>{"Hello back."});
  EXPECT_EQ(h.orchestrator->stats().openings_skipped, 1);
}

// --- fillers ---

std::shared_ptr<const FillerBank> default_fillers() {
  auto bank = FillerBank::load(std::string(PV_TESTDATA_DIR) + "/../assets/fillers", "default");
  EXPECT_TRUE(bank.has_value()) << (bank ? "" : bank.error().message);
  return std::make_shared<const FillerBank>(std::move(*bank));
}

TEST(Orchestrator, ALateReplyGetsAFillerThatTheReplyCutsAndNeverOverlaps) {
  auto params = test_params(10);
  params.fillers = default_fillers();
  params.filler_delay_ms = 100;
  Harness h(params, {"Here is the answer."});
  h.llm->set_fault(0, Fault::gate);
  h.start();
  h.user("hello world");
  const std::size_t turn_end = h.room->output().size();
  // Let 200 ms of the filler play, then release the reply.
  ASSERT_TRUE(h.room->run_until([&] { return h.room->audible_frames(turn_end) >= 10; }, 2000));
  h.llm->gate().open();
  ASSERT_TRUE(h.wait_reports(1));

  const auto& out = h.room->output();
  std::size_t start = turn_end;
  while (start < out.size() && out[start] == 0) {
    ++start;
  }
  const FillerClip* clip = params.fillers->choose("thinking", 0);
  ASSERT_NE(clip, nullptr);
  const auto& pcm = clip->pcm.samples; // the default bank is 48 kHz
  std::size_t match = 0;
  while (match < pcm.size() && start + match < out.size() && out[start + match] == pcm[match]) {
    ++match;
  }
  // The clip may start with zeros that the scan skipped: align on its first non-zero sample.
  std::size_t lead = 0;
  while (lead < pcm.size() && pcm[lead] == 0) {
    ++lead;
  }
  if (match == 0 && lead > 0) {
    start -= std::min(start, lead);
    while (match < pcm.size() && out[start + match] == pcm[match]) {
      ++match;
    }
  }
  EXPECT_GE(match, 10u * 960) << "the filler clip was played as recorded";
  EXPECT_LT(match, pcm.size()) << "the reply cut the filler";
  // From the cut on, the room hears the reply (a 300 Hz tone), not the filler's rest.
  const std::size_t cut = start + match;
  const std::span<const int16_t> after(out.data() + cut + 480, 4800);
  EXPECT_NEAR(testsupport::zero_crossing_frequency(after, 48000), 300.0, 5.0);
  EXPECT_EQ(h.recorder.reports()[0].agent_text, "Here is the answer.");
  EXPECT_EQ(h.orchestrator->stats().fillers_played, 1);
}

TEST(Orchestrator, AFastReplyGetsNoFiller) {
  auto params = test_params();
  params.fillers = default_fillers();
  params.filler_delay_ms = 300;
  Harness h(params, {"Quick answer."});
  h.start();
  h.user("hello world");
  ASSERT_TRUE(h.wait_reports(1));
  EXPECT_EQ(h.orchestrator->stats().fillers_played, 0);
}

// --- gating ---

TEST(Orchestrator, WhenSpeakingIsNotAllowedPlayoutStopsAndTurnsAreHeardButNotAnswered) {
  Harness h(test_params(),
            {"First sentence is here. Secondly everything comes next.", "Now I may answer."});
  h.start();
  h.user("hello world");
  ASSERT_TRUE(h.room->run_until([&] { return h.room->audible_frames() >= 10; }, 3000));
  h.orchestrator->set_speaking_allowed(false);
  const std::size_t muted_from = h.room->output().size();
  ASSERT_TRUE(h.wait_reports(1, 2000));
  h.user("good morning everyone");
  ASSERT_TRUE(h.wait_reports(2));
  h.room->silence(500);
  EXPECT_TRUE(silent(h.room->output(), muted_from, h.room->output().size()));
  auto reports = h.recorder.reports();
  EXPECT_TRUE(reports[0].interrupted);
  EXPECT_LT(reports[0].agent_text.size(), std::string("First sentence is here.").size())
      << "only the first 200 ms were heard: " << reports[0].agent_text;
  EXPECT_EQ(reports[1].user_text, "good morning everyone");
  EXPECT_EQ(reports[1].agent_text, "");
  EXPECT_EQ(h.llm->calls().size(), 1u);
  EXPECT_TRUE(h.recorder.barge_ins().empty());

  h.orchestrator->set_speaking_allowed(true);
  const std::size_t allowed_from = h.room->output().size();
  h.user("how are you doing today");
  ASSERT_TRUE(h.wait_reports(3));
  reports = h.recorder.reports();
  EXPECT_EQ(reports[2].agent_text, "Now I may answer.") << "the second LLM call answers turn 3";
  EXPECT_GT(h.room->audible_frames(allowed_from), 5);
  // The muted turn is in memory: the LLM knows what was said meanwhile.
  const auto m = h.llm->calls().at(1).messages;
  bool has_muted_turn = false;
  for (const auto& message : m) {
    has_muted_turn |= message.content.find("good morning everyone") != std::string::npos;
  }
  EXPECT_TRUE(has_muted_turn);
}

// --- the PersonaPlex fallback seam ---

TEST(Orchestrator, TakeOverAnswersATurnAnotherBackendCouldNotWithOrWithoutATranscript) {
  Harness h(test_params(), {"Taken over one.", "Taken over two.", "Taken over three."});
  h.start();
  h.room->silence(100);

  auto with_text = std::make_shared<conversation::UserUtterance>();
  with_text->turn_id = 77;
  with_text->transcript = "what is the weather like today";
  with_text->speech_end_media_ms = 40;
  ASSERT_TRUE(h.orchestrator->take_over_turn(with_text));
  ASSERT_TRUE(h.wait_reports(1));

  auto audio16 = std::make_shared<conversation::UserUtterance>();
  audio16->turn_id = 78;
  audio16->pcm = speak("hello world");
  ASSERT_TRUE(h.orchestrator->take_over_turn(audio16));
  ASSERT_TRUE(h.wait_reports(2));

  auto audio48 = std::make_shared<conversation::UserUtterance>();
  audio48->turn_id = 79;
  audio48->pcm = *audio::resample_clip(speak("good morning everyone"), 48000);
  ASSERT_TRUE(h.orchestrator->take_over_turn(audio48));
  ASSERT_TRUE(h.wait_reports(3));

  const auto reports = h.recorder.reports();
  EXPECT_EQ(reports[0].turn_id, 77u);
  EXPECT_EQ(reports[0].user_text, "what is the weather like today");
  EXPECT_EQ(reports[0].agent_text, "Taken over one.");
  EXPECT_EQ(reports[1].turn_id, 78u);
  EXPECT_EQ(reports[1].user_text, "hello world");
  EXPECT_EQ(reports[2].turn_id, 79u);
  EXPECT_EQ(reports[2].user_text, "good morning everyone");
  // The agent learns about each turn (to measure its latency from the original speech end).
  const auto ends = h.recorder.turn_ends();
  ASSERT_EQ(ends.size(), 3u);
  EXPECT_EQ(ends[0], std::make_pair(uint64_t{77}, int64_t{40}));
  EXPECT_EQ(h.llm->calls()[0].messages.back().content, "what is the weather like today");
}

// --- audience reactions reach the prompt, filtered by address ---

TEST(Orchestrator, ReactionsToTheAgentShapeThePromptOthersAreIgnored) {
  auto params = test_params();
  params.feedback_react_to = "0xabc";
  Harness h(params);
  h.start();
  h.room->silence(100);
  for (int i = 0; i < 3; ++i) {
    h.orchestrator->on_reaction({"cheer", 1, "0xABC", h.room->media_ms()});
  }
  h.orchestrator->on_reaction({"boo", 5, "0xdef", h.room->media_ms()});      // someone else
  h.orchestrator->on_reaction({"applause", 1, "0xabc", h.room->media_ms()}); // unknown kind
  h.user("hello world");
  ASSERT_TRUE(h.wait_reports(1));

  FeedbackCollector expected_counts;
  for (int i = 0; i < 3; ++i) {
    expected_counts.record(Reaction::cheer, 1, 0);
  }
  const std::string expected_line =
      build_feedback_line(expected_counts.snapshot(0, find_persona("default").thresholds));
  const auto system = h.llm->calls().at(0).messages.front();
  EXPECT_EQ(system.role, Role::system);
  EXPECT_NE(system.content.find(expected_line), std::string::npos) << system.content;
}

// --- lifecycle ---

TEST(Orchestrator, StopCancelsProviderCallsInFlightAndReturns) {
  Harness h(test_params(10));
  h.llm->set_fault(0, Fault::stall);
  h.start();
  h.user("hello world");
  ASSERT_TRUE(h.room->run_until([&] { return h.llm->calls().size() == 1; }, 2000));
  h.orchestrator->stop();
  const auto calls = h.llm->calls();
  EXPECT_TRUE(calls[0].returned);
  EXPECT_TRUE(calls[0].saw_cancel);
  h.orchestrator->stop(); // idempotent
  conversation::BackendContext context;
  context.observer = &h.recorder;
  const auto restarted = h.orchestrator->start(context);
  ASSERT_FALSE(restarted.has_value()) << "a stopped backend has no threads left to run it";
  EXPECT_EQ(restarted.error().kind, ErrorKind::internal);
}

TEST(Orchestrator, RefusesToBeBuiltWithoutItsProviders) {
  auto missing = Orchestrator::create(test_params(), {grammar_asr(), nullptr, shared_flite()});
  ASSERT_FALSE(missing.has_value());
  EXPECT_EQ(missing.error().kind, ErrorKind::config);
  auto params = test_params();
  params.lookahead_ms = params.playout_capacity_ms + 1;
  auto bad = Orchestrator::create(
      params, {grammar_asr(), std::make_shared<OfflineResponder>(), shared_flite()});
  ASSERT_FALSE(bad.has_value());
  EXPECT_EQ(bad.error().kind, ErrorKind::config);
}

TEST(Orchestrator, FramesOfTheWrongRateAreIgnored) {
  Harness h(test_params());
  h.start();
  audio::Frame wrong(audio::kSpeechRateHz);
  for (int i = 0; i < 50; ++i) {
    h.orchestrator->on_room_frame(wrong);
  }
  h.room->silence(100);
  EXPECT_TRUE(h.orchestrator->idle());
  EXPECT_TRUE(h.recorder.sequence().empty());
}

#ifndef NDEBUG
TEST(OrchestratorDeathTest, TheRoomClockSideHasOneOwnerThread) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(
      {
        auto created = Orchestrator::create(
            test_params(0), {grammar_asr(), std::make_shared<OfflineResponder>(), shared_flite()});
        Recorder recorder;
        conversation::BackendContext context;
        context.observer = &recorder;
        context.media_time_ms = [] {
          return int64_t{0};
        };
        (void)(*created)->start(context);
        audio::Frame frame(audio::kRoomRateHz);
        (*created)->on_room_frame(frame); // binds the clock side to this thread
        std::thread other([&] { (*created)->on_room_frame(frame); });
        other.join();
      },
      "thread-ownership violation");
}
#endif

} // namespace
} // namespace pv::cascade
