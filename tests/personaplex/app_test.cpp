// The PersonaPlex backend from the configuration: the agent's main job with
// CONVERSATION_BACKEND=personaplex against the simulator, --check-config naming bad variables,
// the fallback hook, and the `podium-voices personaplex` command as a real process.

#include "agent/factory.hpp"
#include "agent/runner.hpp"
#include "audio/wav.hpp"
#include "config/settings.hpp"
#include "pp_test_util.hpp"
#include "support/command.hpp"

#include <fstream>
#include <sstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace pv::personaplex {
namespace {

using namespace std::chrono_literals;
using pv::test::run_command;

const std::string kBinary = std::string(PV_BINARY_DIR) + "/apps/podium-voices";

// Options for the agent's main job with its output in `dir`: the personaplex backend, and no
// .env.local from the working directory.
agent::RunOptions run_options(const test::TempDir& dir) {
  agent::RunOptions options;
  options.env_file = dir.path / "none.env";
  std::ofstream(*options.env_file) << "# empty\n";
  options.overrides = {{"CONVERSATION_BACKEND", "personaplex"}, {"OUTPUT_DIR", dir.path.string()},
                       {"MOCK_ROOM_LEAD_IN_MS", "300"},         {"MOCK_ROOM_TAIL_MS", "3000"},
                       {"MOCK_ROOM_MAX_WAIT_MS", "10000"},      {"LOG_LEVEL", "warn"}};
  return options;
}

// ...against `server`, the mock room saying `said` (flite, 48 kHz).
agent::RunOptions run_options(const test::TempDir& dir, const sim::SimServer& server,
                              const std::string& said) {
  agent::RunOptions options = run_options(dir);
  const auto input = dir.path / "user.wav";
  EXPECT_TRUE(audio::write_wav(input, audio::PcmBuffer{48000, test::speak(said, 48000)}));
  options.overrides["PERSONAPLEX_SERVER_URL"] = "http://127.0.0.1:" + std::to_string(server.port());
  options.overrides["MOCK_ROOM_INPUT_WAV"] = input.string();
  return options;
}

nlohmann::json read_timeline(const test::TempDir& dir) {
  std::ifstream in(dir.path / "timeline.json");
  return nlohmann::json::parse(in);
}

TEST(PersonaPlexAgent, MainJobRunsAgainstTheSimulatorFromTheConfiguration) {
  auto server = test::start_sim(test::fast_sim_params());
  ASSERT_TRUE(server);
  test::TempDir dir;
  agent::RunOptions options = run_options(dir, *server, "good evening, who is on the show");
  options.overrides["PERSONAPLEX_VOICE_PROMPT"] = "NATM2";
  options.overrides["AGENT_ID"] = "tester";
  std::ostringstream out, err;
  std::atomic<bool> stop{false};
  ASSERT_EQ(agent::run_agent(options, stop, out, err), 0) << err.str() << out.str();

  const auto sessions = server->sessions();
  ASSERT_EQ(sessions.size(), 1u);
  EXPECT_EQ(sessions[0].voice_prompt, "NATM2.pt");
  EXPECT_GT(sessions[0].text_tokens, 20); // the persona prompt, not a placeholder
  ASSERT_EQ(sessions[0].reply_texts.size(), 1u);
  const auto timeline = read_timeline(dir);
  ASSERT_EQ(timeline["turns"].size(), 1u);
  EXPECT_EQ(timeline["turns"][0]["agent_text"], sessions[0].reply_texts[0]);
  auto recording = audio::read_wav(dir.path / "agent.wav");
  ASSERT_TRUE(recording.has_value());
  EXPECT_GT(recording->duration_ms(), 1000);
}

TEST(PersonaPlexAgent, CheckConfigNamesTheBadVariables) {
  test::TempDir dir;
  agent::RunOptions options = run_options(dir);
  options.check_config = true;
  options.overrides["PERSONAPLEX_SERVER_URL"] = "ftp://gpu:8998";
  options.overrides["PERSONAPLEX_VOICE_PROMPT"] = "../secrets.pt";
  std::ostringstream out, err;
  std::atomic<bool> stop{false};
  EXPECT_EQ(agent::run_agent(options, stop, out, err), 2);
  const std::string text = out.str() + err.str();
  EXPECT_NE(text.find("PERSONAPLEX_SERVER_URL='ftp://gpu:8998' is not usable"), std::string::npos)
      << text;
  EXPECT_NE(text.find("PERSONAPLEX_VOICE_PROMPT='../secrets.pt' is refused"), std::string::npos)
      << text;

  // A good configuration passes; an unusual voice is only a warning.
  options.overrides["PERSONAPLEX_SERVER_URL"] = "https://gpu:8998";
  options.overrides["PERSONAPLEX_VOICE_PROMPT"] = "custom_voice.pt";
  std::ostringstream out2, err2;
  EXPECT_EQ(agent::run_agent(options, stop, out2, err2), 0) << out2.str() << err2.str();
}

TEST(PersonaPlexAgent, FallbackToLlmBuildsASecondBackendOnlyWhenAsked) {
  config::EnvSource source;
  source.set_override("CONVERSATION_BACKEND", "personaplex");
  source.set_override("PERSONAPLEX_SERVER_URL", "http://127.0.0.1:1");
  source.set_override("PERSONAPLEX_FALLBACK_TO_LLM", "false");
  auto plain = config::load_settings(source);
  auto without = agent::make_backends(plain.settings);
  ASSERT_TRUE(without.has_value()) << without.error();
  EXPECT_EQ(without->primary->name(), "personaplex");
  EXPECT_EQ(without->fallback, nullptr);

  source.set_override("PERSONAPLEX_FALLBACK_TO_LLM", "true");
  auto loaded = config::load_settings(source);
  auto with = agent::make_backends(loaded.settings);
  ASSERT_TRUE(with.has_value()) << with.error();
  EXPECT_EQ(with->primary->name(), "personaplex");
  ASSERT_NE(with->fallback, nullptr);
  EXPECT_NE(with->fallback->name(), "personaplex");
}

TEST(PersonaPlexAgent, TurnModeFailuresAreAnsweredByTheCascadeFallback) {
  auto params = test::fast_sim_params();
  params.faults.reject_status = 503; // the pool is full for every session
  auto server = test::start_sim(params);
  ASSERT_TRUE(server);
  test::TempDir dir;
  agent::RunOptions options = run_options(dir, *server, "what is the weather like today");
  options.overrides["PERSONAPLEX_MODE"] = "turn";
  options.overrides["PERSONAPLEX_FALLBACK_TO_LLM"] = "true";
  options.overrides["MOCK_ROOM_MAX_WAIT_MS"] = "20000";
  std::ostringstream out, err;
  std::atomic<bool> stop{false};
  ASSERT_EQ(agent::run_agent(options, stop, out, err), 0) << err.str() << out.str();

  const auto timeline = read_timeline(dir);
  bool rejected = false;
  for (const auto& e : timeline["events"]) {
    rejected = rejected || (e["type"] == "error" && e["kind"] == "http_rejected");
  }
  EXPECT_TRUE(rejected) << timeline.dump(1);
  // The cascade answered the utterance PersonaPlex could not: a turn with the agent's words.
  ASSERT_GE(timeline["turns"].size(), 1u) << timeline.dump(1);
  EXPECT_FALSE(timeline["turns"][0]["agent_text"].get<std::string>().empty());
  auto recording = audio::read_wav(dir.path / "agent.wav");
  ASSERT_TRUE(recording.has_value());
  EXPECT_GT(test::level_dbfs(recording->samples), -60.0);
  EXPECT_EQ(server->sessions().size(), 1u); // one rejected attempt, no retry loop in turn mode
}

TEST(PersonaPlexAgent, WhileDuplexReconnectsTheCascadeFallbackHasTheRoom) {
  auto params = test::fast_sim_params();
  params.faults.reject_status = 503; // the server stays unavailable
  auto server = test::start_sim(params);
  ASSERT_TRUE(server);
  test::TempDir dir;
  agent::RunOptions options = run_options(dir, *server, "hello, is anybody there");
  options.overrides["PERSONAPLEX_FALLBACK_TO_LLM"] = "true";
  options.overrides["PERSONAPLEX_RECONNECT_MIN_MS"] = "100";
  options.overrides["PERSONAPLEX_RECONNECT_MAX_MS"] = "1000";
  options.overrides["MOCK_ROOM_LEAD_IN_MS"] = "1000"; // the first attempt fails before the user
  options.overrides["MOCK_ROOM_MAX_WAIT_MS"] = "20000";
  std::ostringstream out, err;
  std::atomic<bool> stop{false};
  ASSERT_EQ(agent::run_agent(options, stop, out, err), 0) << err.str() << out.str();

  const auto timeline = read_timeline(dir);
  int64_t fallback_on = -1;
  for (const auto& e : timeline["events"]) {
    if (e["type"] == "fallback_on" && fallback_on < 0) {
      fallback_on = e["t_ms"].get<int64_t>();
    }
  }
  ASSERT_GE(fallback_on, 0) << timeline.dump(1);
  ASSERT_GE(timeline["turns"].size(), 1u) << timeline.dump(1);
  EXPECT_FALSE(timeline["turns"][0]["agent_text"].get<std::string>().empty());
  EXPECT_GT(timeline["turns"][0]["user_speech_end_ms"].get<int64_t>(), fallback_on);
  // PersonaPlex kept trying in the background (Retry-After 1 s between attempts).
  EXPECT_GE(server->sessions().size(), 2u);
}

TEST(PersonaPlexCommand, OneExchangeWritesTheReplyAndPrintsTranscriptAndTimings) {
  auto params = test::fast_sim_params();
  params.model.fixed_reply = "Nice to meet you.";
  auto server = test::start_sim(params);
  ASSERT_TRUE(server);
  test::TempDir dir;
  const auto in = dir.path / "q.wav";
  const auto out = dir.path / "reply.wav";
  ASSERT_TRUE(
      audio::write_wav(in, audio::PcmBuffer{16000, test::speak("hello, who are you", 16000)}));
  const std::string url = "http://127.0.0.1:" + std::to_string(server->port());
  for (const std::string mode : {"duplex", "turn"}) {
    SCOPED_TRACE(mode);
    const auto run = run_command(kBinary + " personaplex --url " + url + " --in " + in.string() +
                                 " --out " + out.string() + " --mode " + mode +
                                 " --voice VARF3 --prompt 'You are Max + 1' --fast");
    ASSERT_EQ(run.status, 0) << run.output;
    EXPECT_NE(run.output.find("transcript:  Nice to meet you."), std::string::npos) << run.output;
    EXPECT_NE(run.output.find("timings: connect "), std::string::npos) << run.output;
    EXPECT_NE(run.output.find(", handshake "), std::string::npos);
    EXPECT_NE(run.output.find(", first audio "), std::string::npos);
    auto reply = audio::read_wav(out);
    ASSERT_TRUE(reply.has_value());
    EXPECT_EQ(reply->sample_rate, 48000);
    EXPECT_GT(test::level_dbfs(reply->samples), -40.0);
  }
  const auto sessions = server->sessions();
  ASSERT_EQ(sessions.size(), 2u);
  for (const auto& s : sessions) {
    EXPECT_EQ(s.voice_prompt, "VARF3.pt");
    EXPECT_EQ(s.replies, 1);
    EXPECT_NE(s.end_reason.find("closed (1000)"), std::string::npos) << s.end_reason;
  }
}

TEST(PersonaPlexCommand, FailuresExitNonZeroWithTheTypedError) {
  test::TempDir dir;
  const auto in = dir.path / "q.wav";
  ASSERT_TRUE(audio::write_wav(in, audio::PcmBuffer{16000, test::speak("hello", 16000)}));
  const auto refused = run_command(
      kBinary + " personaplex --url ws://127.0.0.1:" + std::to_string(test::unused_port()) +
      " --in " + in.string() + " --out " + (dir.path / "r.wav").string());
  EXPECT_EQ(refused.status, 3) << refused.output;
  EXPECT_NE(refused.output.find("failed (connect_refused)"), std::string::npos) << refused.output;

  const auto bad_url = run_command(kBinary + " personaplex --url ftp://x --in " + in.string() +
                                   " --out " + (dir.path / "r.wav").string());
  EXPECT_EQ(bad_url.status, 2) << bad_url.output;
  EXPECT_NE(bad_url.output.find("PERSONAPLEX_SERVER_URL"), std::string::npos) << bad_url.output;

  auto params = test::fast_sim_params();
  params.faults.reject_status = 429;
  auto server = test::start_sim(params);
  ASSERT_TRUE(server);
  const auto busy = run_command(
      kBinary + " personaplex --url http://127.0.0.1:" + std::to_string(server->port()) + " --in " +
      in.string() + " --out " + (dir.path / "r.wav").string());
  EXPECT_EQ(busy.status, 3) << busy.output;
  EXPECT_NE(busy.output.find("failed (http_rejected)"), std::string::npos) << busy.output;
  EXPECT_NE(busy.output.find("429"), std::string::npos) << busy.output;
}

} // namespace
} // namespace pv::personaplex
