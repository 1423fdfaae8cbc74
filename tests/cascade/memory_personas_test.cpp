#include "cascade/memory.hpp"
#include "cascade/personas.hpp"

#include <filesystem>
#include <fstream>
#include <thread>

#include <gtest/gtest.h>

namespace pv::cascade {
namespace {

namespace fs = std::filesystem;

TEST(SessionMemory, RollsOverAndIgnoresEmpty) {
  SessionMemory memory(3);
  EXPECT_FALSE(memory.append(Role::user, "   "));
  EXPECT_FALSE(memory.append(Role::system, "not a turn"));
  EXPECT_TRUE(memory.append(Role::user, " one ", 10));
  EXPECT_TRUE(memory.append(Role::assistant, "two", 20));
  EXPECT_TRUE(memory.append(Role::user, "three", 30));
  EXPECT_TRUE(memory.append(Role::assistant, "four", 40));
  const auto turns = memory.snapshot();
  ASSERT_EQ(turns.size(), 3U);
  EXPECT_EQ(turns[0].content, "two");
  EXPECT_EQ(turns[2].content, "four");
  EXPECT_EQ(turns[2].at_ms, 40);
  SessionMemory none(0);
  EXPECT_FALSE(none.append(Role::user, "hello"));
  EXPECT_EQ(none.size(), 0U);
}

TEST(SessionMemory, AmendsTheLastAssistantTurnToWhatWasHeard) {
  SessionMemory memory(10);
  memory.append(Role::user, "tell me about dragons");
  memory.append(Role::assistant, "Dragons are old. They guard gold. They also fly very far.");
  memory.append(Role::user, "wait, stop"); // the barge-in turn may already be recorded
  EXPECT_EQ(memory.amend_last_assistant("Dragons are old. They guard"), AmendResult::amended);
  auto turns = memory.snapshot();
  ASSERT_EQ(turns.size(), 3U);
  EXPECT_EQ(turns[1].content, "Dragons are old. They guard");
  EXPECT_TRUE(turns[1].interrupted);
  EXPECT_EQ(turns[2].content, "wait, stop");
  // Nothing heard: the turn disappears.
  memory.append(Role::assistant, "Sure, let me");
  EXPECT_EQ(memory.amend_last_assistant("  "), AmendResult::removed);
  turns = memory.snapshot();
  ASSERT_EQ(turns.size(), 3U);
  EXPECT_EQ(turns.back().role, Role::user);
  SessionMemory empty(5);
  empty.append(Role::user, "hi");
  EXPECT_EQ(empty.amend_last_assistant("x"), AmendResult::no_assistant_turn);
}

TEST(SessionMemory, ReplaceAllKeepsNewestAndIsThreadSafe) {
  SessionMemory memory(2);
  memory.replace_all({{Role::user, "a", 1, false},
                      {Role::system, "dropped", 2, false},
                      {Role::assistant, " b ", 3, false},
                      {Role::user, "c", 4, false}});
  auto turns = memory.snapshot();
  ASSERT_EQ(turns.size(), 2U);
  EXPECT_EQ(turns[0].content, "b");
  EXPECT_EQ(turns[1].content, "c");

  SessionMemory shared(50);
  std::thread writer([&] {
    for (int i = 0; i < 2000; ++i) {
      shared.append(i % 2 == 0 ? Role::user : Role::assistant, "turn " + std::to_string(i));
    }
  });
  std::size_t max_seen = 0;
  for (int i = 0; i < 2000; ++i) {
    max_seen = std::max(max_seen, shared.snapshot().size());
  }
  writer.join();
  EXPECT_LE(max_seen, 50U);
  EXPECT_EQ(shared.size(), 50U);
  EXPECT_EQ(shared.snapshot().back().content, "turn 1999");
}

TEST(HeardPrefix, CutsAtWordBoundaries) {
  const std::string text = "one two three four";
  EXPECT_EQ(heard_prefix(text, 0.0), "");
  EXPECT_EQ(heard_prefix(text, 1.0), text);
  EXPECT_EQ(heard_prefix(text, 0.5), "one two");
  EXPECT_EQ(heard_prefix(text, 0.05), "");
  EXPECT_EQ(heard_prefix(text, 0.95), text);
  EXPECT_EQ(heard_prefix("   ", 0.5), "");
}

TEST(Personas, NineBuiltInPersonasWithLookup) {
  const auto personas = all_personas();
  ASSERT_EQ(personas.size(), 9U);
  for (const char* id : {"default", "hype", "calm", "influencer", "orator", "podcast_host",
                         "bold_host", "storyteller", "pundit"}) {
    EXPECT_TRUE(is_known_persona(id)) << id;
    EXPECT_EQ(find_persona(id).id, id);
    EXPECT_FALSE(find_persona(id).prompt_addendum.empty()) << id;
  }
  EXPECT_EQ(find_persona("HYPE").id, "hype");
  EXPECT_EQ(find_persona("nobody").id, "default");
  EXPECT_FALSE(is_known_persona("nobody"));
  // Calm reacts to displeasure sooner than the default.
  EXPECT_LT(find_persona("calm").thresholds.negative_boos,
            find_persona("default").thresholds.negative_boos);
  EXPECT_EQ(find_persona("default").thresholds.high_positive_cheers, 5);
  const std::string prompt = persona_prompt(find_persona("storyteller"));
  EXPECT_EQ(prompt.find(base_system_prompt()), 0U);
  EXPECT_NE(prompt.find(find_persona("storyteller").prompt_addendum), std::string::npos);
}

TEST(Personas, CadenceFilesLoadForTheFiveCadencePersonas) {
  const fs::path dir = resolve_assets_dir("") / "personas";
  int with_cadence = 0;
  for (const auto& persona : all_personas()) {
    auto cadence = load_persona_cadence(dir, persona);
    ASSERT_TRUE(cadence) << cadence.error().message;
    EXPECT_EQ(cadence->has_value(), persona.has_cadence) << persona.id;
    if (!cadence->has_value()) {
      continue;
    }
    ++with_cadence;
    const CadenceProfile& p = **cadence;
    EXPECT_EQ(p.id, persona.id);
    EXPECT_FALSE(p.name.empty());
    for (const char* provider : {"google", "azure", "openai", "flite"}) {
      EXPECT_EQ(p.voices.count(provider), 1U) << persona.id << " " << provider;
    }
    // The flite voice must be one flite has.
    EXPECT_TRUE(p.voices.at("flite") == "kal16" || p.voices.at("flite") == "slt");
  }
  EXPECT_EQ(with_cadence, 5);
  auto orator = load_persona_cadence(dir, find_persona("orator"));
  ASSERT_TRUE(orator && orator->has_value());
  EXPECT_EQ((*orator)->rate_percent, 92);
  EXPECT_EQ((*orator)->pitch_percent, -2);
}

TEST(Personas, VoiceOptionsArePerProvider) {
  auto pundit = load_persona_cadence(resolve_assets_dir("") / "personas", find_persona("pundit"));
  ASSERT_TRUE(pundit && pundit->has_value());
  const CadenceProfile& p = **pundit;
  const auto google = voice_options_for(&p, "google");
  const auto azure = voice_options_for(&p, "azure");
  const auto flite = voice_options_for(&p, "FLITE");
  EXPECT_EQ(google.voice, "en-US-Neural2-A");
  EXPECT_EQ(azure.voice, "en-US-JasonNeural");
  EXPECT_NE(azure.voice, google.voice) << "a Google voice never reaches Azure";
  EXPECT_EQ(flite.voice, "kal16");
  EXPECT_EQ(google.rate_percent, 105);
  EXPECT_EQ(azure.rate_percent, 105);
  // A provider the profile has no voice for gets rate/pitch but the provider's default voice.
  CadenceProfile only_google = p;
  only_google.voices = {{"google", "en-US-Neural2-A"}};
  EXPECT_EQ(voice_options_for(&only_google, "azure").voice, "");
  EXPECT_EQ(voice_options_for(&only_google, "azure").rate_percent, 105);
  const auto none = voice_options_for(nullptr, "google");
  EXPECT_EQ(none.rate_percent, 100);
  EXPECT_EQ(none.pitch_percent, 0);
  EXPECT_EQ(none.voice, "");
}

class CadenceFileTest : public ::testing::Test {
protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("pv_cadence_" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) +
            "_" + std::to_string(reinterpret_cast<uintptr_t>(this)));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path write(const std::string& name, const std::string& text) {
    std::ofstream(dir_ / name) << text;
    return dir_ / name;
  }
  fs::path dir_;
};

TEST_F(CadenceFileTest, InvalidFilesAreClearErrors) {
  auto expect_error = [&](const std::string& text, const std::string& needle) {
    auto r = load_cadence_profile(write("x.json", text));
    ASSERT_FALSE(r) << text;
    EXPECT_NE(r.error().message.find(needle), std::string::npos) << r.error().message;
  };
  expect_error("{not json", "not a JSON object");
  expect_error(R"({"ssmlDefaults":{"ratePercent":90,"pitchPercent":0}})", "\"id\"");
  expect_error(R"({"id":"orator"})", "ssmlDefaults");
  expect_error(R"({"id":"orator","ssmlDefaults":{"ratePercent":"fast","pitchPercent":0}})",
               "integer");
  expect_error(R"({"id":"orator","ssmlDefaults":{"ratePercent":400,"pitchPercent":0}})",
               "out of range");
  expect_error(R"({"id":"orator","ssmlDefaults":{"ratePercent":90,"pitchPercent":0},"voice":[]})",
               "voice");
  EXPECT_FALSE(load_cadence_profile(dir_ / "missing.json"));
  // A cadence persona whose file declares another id.
  write("orator.json", R"({"id":"pundit","ssmlDefaults":{"ratePercent":90,"pitchPercent":0}})");
  auto mismatch = load_persona_cadence(dir_, find_persona("orator"));
  ASSERT_FALSE(mismatch);
  EXPECT_NE(mismatch.error().message.find("declares id"), std::string::npos);
  // A persona without cadence needs no file.
  auto hype = load_persona_cadence(dir_, find_persona("hype"));
  ASSERT_TRUE(hype);
  EXPECT_FALSE(hype->has_value());
}

TEST(Assets, ResolveAssetsDir) {
  EXPECT_EQ(resolve_assets_dir("/srv/podium/assets"), fs::path("/srv/podium/assets"));
  EXPECT_TRUE(fs::is_directory(resolve_assets_dir("") / "personas"));
}

} // namespace
} // namespace pv::cascade
