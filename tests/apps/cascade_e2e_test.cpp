// End to end, in process and in real time: flite user audio -> the mock room -> the agent -> the
// cascade backend built from the configuration (WebRTC VAD, pocketsphinx with the JSGF test
// grammar, the offline responder, flite) -> the agent's recording and timeline.

#include "agent/runner.hpp"
#include "apps_test_util.hpp"
#include "audio/mixer.hpp"
#include "audio/wav.hpp"
#include "cascade/cascade_user_script.hpp"
#include "cascade/llm/offline_responder.hpp"
#include "cascade/personas.hpp"
#include "cascade/prompts.hpp"

#include <map>
#include <sstream>

#include <gtest/gtest.h>

namespace pv::apps {
namespace {

using testing::ScratchDir;

std::string offline_reply(const std::vector<cascade::MemoryTurn>& history) {
  cascade::LlmRequest request;
  request.messages =
      cascade::build_reply_messages(cascade::find_persona("default"), history,
                                    cascade::build_feedback_line(cascade::FeedbackSnapshot{}));
  return cascade::OfflineResponder::compose_reply(request);
}

TEST(CascadeEndToEnd, ScriptedUserGetsExactTranscriptsSpokenRepliesAndConsistentLatency) {
  ScratchDir dir;
  cascade::UserScriptParams script_params;
  script_params.utterances = {{"hello world", 300, false},
                              {"what is the weather like today", 5500, false}};
  auto script = cascade::synthesize_user_script(script_params);
  ASSERT_TRUE(script.has_value()) << script.error();
  const auto input = dir.path / "user.wav";
  ASSERT_TRUE(cascade::write_user_script(*script, input));

  agent::RunOptions options;
  options.env_file = dir.path / "none.env"; // nothing from a developer's .env.local
  std::ofstream(*options.env_file) << "# empty\n";
  options.overrides = {{"CONVERSATION_BACKEND", "asr-llm-tts"},
                       {"ASR_GRAMMAR", std::string(PV_TESTDATA_DIR) + "/cascade/sentences.gram"},
                       {"MODEL_PROVIDER", "offline"},
                       {"OPENER_ENABLED", "false"},
                       {"MOCK_ROOM_INPUT_WAV", input.string()},
                       {"MOCK_ROOM_SPEED", "1"}, // real time: latency is physical
                       {"MOCK_ROOM_TAIL_MS", "1000"},
                       {"OUTPUT_DIR", (dir.path / "out").string()},
                       {"LOG_LEVEL", "warn"}};
  std::ostringstream out, err;
  std::atomic<bool> stop{false};
  ASSERT_EQ(agent::run_agent(options, stop, out, err), 0) << err.str() << out.str();

  const auto timeline = testing::read_json(dir.path / "out" / "timeline.json");
  ASSERT_TRUE(timeline.is_object());
  const auto& turns = timeline["turns"];
  ASSERT_EQ(turns.size(), 2u) << timeline.dump(2);

  // Transcripts are exact (grammar), replies are the responder's, spoken in full.
  EXPECT_EQ(turns[0]["user_text"], "hello world");
  EXPECT_EQ(turns[1]["user_text"], "what is the weather like today");
  const std::string reply1 = offline_reply({{cascade::Role::user, "hello world"}});
  const std::string reply2 =
      offline_reply({{cascade::Role::user, "hello world"},
                     {cascade::Role::assistant, reply1},
                     {cascade::Role::user, "what is the weather like today"}});
  EXPECT_EQ(turns[0]["agent_text"], reply1);
  EXPECT_EQ(turns[1]["agent_text"], reply2);

  auto recording = audio::read_wav(dir.path / "out" / "agent.wav");
  ASSERT_TRUE(recording.has_value());
  for (const auto& turn : turns) {
    EXPECT_FALSE(turn["interrupted"].get<bool>());
    const auto& latency = turn["latency_ms"];
    for (const char* part :
         {"total", "vad_wait", "asr", "llm_first_token", "tts_first_chunk", "queue"}) {
      ASSERT_TRUE(latency.contains(part)) << part << " missing in " << turn.dump();
      EXPECT_GE(latency[part].get<double>(), 0.0) << part;
    }
    const double total = latency["total"];
    EXPECT_GE(total, latency["vad_wait"].get<double>() + latency["asr"].get<double>())
        << turn.dump();
    EXPECT_DOUBLE_EQ(latency["vad_wait"].get<double>(), 480.0); // VAD_SILENCE_MS 500 - 1 frame
    // The reply is audible in the recording from its first played frame on.
    const auto first = turn["first_agent_audio_ms"].get<int64_t>();
    const std::span<const int16_t> reply(recording->samples.data() + first * 48, 48000);
    EXPECT_GT(audio::rms_dbfs(reply), -35.0);
  }
  // The room's timeline in order: the user speaks, the turn ends, the agent speaks.
  std::vector<std::string> types;
  for (const auto& e : timeline["events"]) {
    types.push_back(e["type"]);
  }
  const auto first_of = [&](const std::string& type) {
    return std::find(types.begin(), types.end(), type) - types.begin();
  };
  EXPECT_LT(first_of("user_speech_start"), first_of("user_turn_end"));
  EXPECT_LT(first_of("user_turn_end"), first_of("agent_speaking_start"));
  EXPECT_EQ(std::count(types.begin(), types.end(), "barge_in"), 0);
  EXPECT_NE(out.str().find("what is the weather like today"), std::string::npos) << out.str();
}

} // namespace
} // namespace pv::apps
