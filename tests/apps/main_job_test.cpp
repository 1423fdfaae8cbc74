// The main job as a user runs it (scripts/setup.sh): the real podium-voices binary synthesizes a
// scripted user, then talks with it in the mock room with the embedded providers.

#include "apps_test_util.hpp"
#include "audio/mixer.hpp"
#include "audio/wav.hpp"

#include <gtest/gtest.h>

namespace pv::apps {
namespace {

using testing::podium_voices;
using testing::read_json;
using testing::run_command;
using testing::ScratchDir;

TEST(MakeUserScript, WritesTheUtterancesAndTheirLabelsWithOneInterruption) {
  ScratchDir dir;
  const auto wav = dir.path / "user_script.wav";
  const auto run = run_command(podium_voices() + " make-user-script --out " + wav.string());
  ASSERT_EQ(run.status, 0) << run.output;
  auto pcm = audio::read_wav(wav);
  ASSERT_TRUE(pcm.has_value());
  const auto labels = read_json(dir.path / "user_script.json");
  ASSERT_TRUE(labels.is_object());
  const auto& speech = labels["speech"];
  ASSERT_GE(speech.size(), 3u);
  int interruptions = 0;
  int64_t previous_end = -1;
  for (const auto& span : speech) {
    const auto start = span["start_ms"].get<int64_t>();
    const auto end = span["end_ms"].get<int64_t>();
    EXPECT_GT(start, previous_end);
    EXPECT_GT(end, start + 300);
    EXPECT_FALSE(span["text"].get<std::string>().empty());
    // The labelled span is speech; the gap before it is not.
    const std::span<const int16_t> voiced(
        pcm->samples.data() + start * pcm->sample_rate / 1000,
        static_cast<std::size_t>((end - start) * pcm->sample_rate / 1000));
    EXPECT_GT(audio::rms_dbfs(voiced), -40.0);
    interruptions += span["interrupts_agent"].get<bool>() ? 1 : 0;
    previous_end = end;
  }
  EXPECT_EQ(interruptions, 1);
  EXPECT_GE(pcm->duration_ms(), previous_end);
  EXPECT_NE(run.output.find("(interrupts the agent)"), std::string::npos) << run.output;

  const auto bad = run_command(podium_voices() + " make-user-script --out /proc/none/x.wav");
  EXPECT_EQ(bad.status, 3) << bad.output;
  EXPECT_NE(bad.output.find("make-user-script:"), std::string::npos) << bad.output;
}

TEST(MainJob, TheAgentTalksWithTheScriptedUserAndIsInterruptedOnce) {
  ScratchDir dir;
  const auto wav = dir.path / "user_script.wav";
  ASSERT_EQ(run_command(podium_voices() + " make-user-script --out " + wav.string()).status, 0);
  // As scripts/setup.sh runs it, but unpaced; from the scratch directory (no .env.local) and with
  // a clean environment (nothing configured: the embedded providers).
  const auto run =
      run_command("cd " + dir.path.string() + " && env -i LOG_LEVEL=warn " + podium_voices() +
                  " --input " + wav.string() + " --output-dir out --fast");
  ASSERT_EQ(run.status, 0) << run.output;
  EXPECT_NE(run.output.find("Conversation (asr-llm-tts backend"), std::string::npos) << run.output;

  const auto timeline = read_json(dir.path / "out" / "timeline.json");
  ASSERT_TRUE(timeline.is_object()) << "timeline.json is not JSON";
  ASSERT_TRUE(timeline["events"].is_array());
  ASSERT_TRUE(timeline["turns"].is_array());
  const auto& turns = timeline["turns"];
  ASSERT_GE(turns.size(), 3u) << timeline.dump(2);
  int interrupted = 0;
  for (const auto& turn : turns) {
    ASSERT_TRUE(turn["user_text"].is_string());
    ASSERT_TRUE(turn["agent_text"].is_string());
    EXPECT_FALSE(turn["user_text"].get<std::string>().empty()) << turn.dump();
    EXPECT_FALSE(turn["agent_text"].get<std::string>().empty()) << turn.dump();
    ASSERT_TRUE(turn["latency_ms"].is_object());
    for (const char* part :
         {"total", "vad_wait", "asr", "llm_first_token", "tts_first_chunk", "queue"}) {
      EXPECT_TRUE(turn["latency_ms"].contains(part)) << part << " in " << turn.dump();
    }
    interrupted += turn["interrupted"].get<bool>() ? 1 : 0;
  }
  EXPECT_EQ(interrupted, 1);
  int barge_ins = 0;
  for (const auto& e : timeline["events"]) {
    ASSERT_TRUE(e.contains("t_ms") && e.contains("type")) << e.dump();
    if (e["type"] == "barge_in") {
      ++barge_ins;
      EXPECT_GE(e["stop_latency_ms"].get<double>(), 0.0);
    }
  }
  EXPECT_GE(barge_ins, 1);
  auto recording = audio::read_wav(dir.path / "out" / "agent.wav");
  ASSERT_TRUE(recording.has_value());
  EXPECT_EQ(recording->sample_rate, 48000);
  EXPECT_GT(audio::rms_dbfs(recording->samples), -40.0) << "the agent said nothing";
}

} // namespace
} // namespace pv::apps
