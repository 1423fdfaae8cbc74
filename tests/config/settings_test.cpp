#include "config/settings.hpp"

#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include <gtest/gtest.h>

namespace pv::config {
namespace {

LoadedSettings load(EnvMap vars) {
  return load_settings(EnvSource({}, std::move(vars)));
}

std::vector<std::string> errors_of(const LoadedSettings& l) {
  std::vector<std::string> out;
  for (const auto& d : l.diagnostics) {
    if (d.severity == Diagnostic::Severity::error) {
      out.push_back(d.message);
    }
  }
  return out;
}

bool has_diag(const LoadedSettings& l, Diagnostic::Severity sev, const std::string& variable,
              const std::string& part) {
  for (const auto& d : l.diagnostics) {
    if (d.severity == sev && d.variable == variable && d.message.find(part) != std::string::npos) {
      return true;
    }
  }
  return false;
}

TEST(Settings, DefaultsNeedNoConfigurationAtAll) {
  auto l = load({});
  EXPECT_TRUE(l.ok()) << ::testing::PrintToString(errors_of(l));
  EXPECT_EQ(l.settings.general.backend, BackendKind::cascade);
  EXPECT_EQ(l.settings.general.persona_id, "default");
  EXPECT_EQ(l.settings.cascade.asr.provider, "pocketsphinx");
  EXPECT_EQ(l.settings.cascade.tts.provider, "flite");
  EXPECT_EQ(l.settings.cascade.llm.provider, "offline");
  EXPECT_EQ(l.settings.cascade.vad.silence_ms, 500);
  EXPECT_EQ(l.settings.personaplex.voice_prompt, "NATF2.pt");
  EXPECT_EQ(l.settings.personaplex.turn_timeout_ms, 30000);
  EXPECT_EQ(l.settings.room.mock.output_wav, "out/agent.wav");
  EXPECT_EQ(l.settings.room.mock.timeline_json, "out/timeline.json");
  EXPECT_FALSE(l.settings.room.podium.configured());
  // The offline responder is announced, not silently used.
  EXPECT_TRUE(has_diag(l, Diagnostic::Severity::warning, "MODEL_PROVIDER", "OFFLINE"));
}

TEST(Settings, OriginalVariableNamesAreHonoured) {
  auto l = load({{"CONVERSATION_BACKEND", "personaplex"},
                 {"PERSONAPLEX_SERVER_URL", "https://gpu:8998"},
                 {"PERSONAPLEX_VOICE_PROMPT", "NATM1.pt"},
                 {"PERSONAPLEX_TURN_TIMEOUT_MS", "45000"},
                 {"VAD_SILENCE_MS", "700"},
                 {"VAD_AGGRESSIVENESS", "3"},
                 {"PERSONA_ID", "Hype"},
                 {"LOG_LEVEL", "debug"},
                 {"LLM_PROVIDER", "anthropic"},
                 {"ANTHROPIC_API_KEY", "sk-ant-123456789"},
                 {"GOOGLE_CLOUD_TTS_API_KEY", "g-key-123"},
                 {"MAX_TURNS_IN_MEMORY", "10"}});
  ASSERT_TRUE(l.ok()) << ::testing::PrintToString(errors_of(l));
  const auto& s = l.settings;
  EXPECT_EQ(s.general.backend, BackendKind::personaplex);
  EXPECT_EQ(s.personaplex.server_url, "https://gpu:8998");
  EXPECT_EQ(s.personaplex.voice_prompt, "NATM1.pt");
  EXPECT_EQ(s.personaplex.turn_timeout_ms, 45000);
  EXPECT_EQ(s.cascade.vad.silence_ms, 700);
  EXPECT_EQ(s.cascade.vad.aggressiveness, 3);
  EXPECT_EQ(s.general.persona_id, "hype"); // canonical spelling
  EXPECT_EQ(s.log.level, "debug");
  EXPECT_EQ(s.cascade.llm.provider, "anthropic");
  EXPECT_EQ(s.cascade.tts.google_api_key, "g-key-123");
  EXPECT_EQ(s.cascade.conversation.max_turns_in_memory, 10);
}

TEST(Settings, ModelProviderWinsOverLlmProviderAlias) {
  auto l = load({{"MODEL_PROVIDER", "offline"}, {"LLM_PROVIDER", "anthropic"}});
  EXPECT_EQ(l.settings.cascade.llm.provider, "offline");
  auto k = load({{"OPENAI_API_KEY", "sk-abcdefghijkl"}});
  EXPECT_EQ(k.settings.cascade.llm.provider, "openai"); // a key picks its provider
}

struct BadValue {
  const char* name;
  const char* value;
  const char* accepted_part;
};

class SettingsErrors : public ::testing::TestWithParam<BadValue> {};

TEST_P(SettingsErrors, NameTheVariableTheValueAndWhatIsAccepted) {
  const auto& p = GetParam();
  auto l = load({{p.name, p.value}});
  ASSERT_FALSE(l.ok()) << p.name << "=" << p.value;
  bool found = false;
  for (const auto& d : l.diagnostics) {
    if (d.severity == Diagnostic::Severity::error && d.variable == p.name) {
      found = true;
      EXPECT_NE(d.message.find(p.name), std::string::npos) << d.message;
      EXPECT_NE(d.message.find(p.value), std::string::npos) << d.message;
      EXPECT_NE(d.message.find(p.accepted_part), std::string::npos) << d.message;
    }
  }
  EXPECT_TRUE(found) << ::testing::PrintToString(errors_of(l));
}

INSTANTIATE_TEST_SUITE_P(
    Table, SettingsErrors,
    ::testing::Values(BadValue{"CONVERSATION_BACKEND", "llm", "asr-llm-tts, personaplex"},
                      BadValue{"PERSONA_ID", "pirate", "storyteller"},
                      BadValue{"VAD_AGGRESSIVENESS", "7", "0 to 3"},
                      BadValue{"VAD_SILENCE_MS", "0", "60 to 10000"},
                      BadValue{"VAD_SILENCE_MS", "fast", "not an integer"},
                      BadValue{"PERSONAPLEX_SSL_INSECURE", "maybe", "true/false"},
                      BadValue{"PERSONAPLEX_MODE", "half", "duplex, turn"},
                      BadValue{"PERSONAPLEX_TURN_TIMEOUT_MS", "-5", "1000 to"},
                      BadValue{"LOG_LEVEL", "verbose", "debug"},
                      BadValue{"LOG_FORMAT", "xml", "text, json"},
                      BadValue{"ASR_PROVIDER", "whisper-local", "pocketsphinx, openai"},
                      BadValue{"TTS_PROVIDER", "polly", "flite"},
                      BadValue{"MODEL_PROVIDER", "gemini", "openai, anthropic, offline"},
                      BadValue{"MOCK_ROOM_SPEED", "-1", "0 to 1000"},
                      BadValue{"SPEAKING_THRESHOLD_DBFS", "loud", "not a number"}));

TEST(Settings, PersonaPlexNeedsAServerAndWarnsAboutRiskySettings) {
  auto l = load({{"CONVERSATION_BACKEND", "personaplex"}});
  EXPECT_TRUE(has_diag(l, Diagnostic::Severity::error, "PERSONAPLEX_SERVER_URL", "empty"));
  auto w = load({{"CONVERSATION_BACKEND", "personaplex"},
                 {"PERSONAPLEX_SERVER_URL", "https://x:8998"},
                 {"PERSONAPLEX_SSL_INSECURE", "true"},
                 {"PERSONAPLEX_SEED", "42"}});
  EXPECT_TRUE(w.ok());
  EXPECT_TRUE(
      has_diag(w, Diagnostic::Severity::warning, "PERSONAPLEX_SSL_INSECURE", "NOT verified"));
  EXPECT_TRUE(has_diag(w, Diagnostic::Severity::warning, "PERSONAPLEX_SEED", "drops"));
  EXPECT_EQ(w.settings.personaplex.seed, 42);
  // Not selected: no personaplex errors.
  EXPECT_TRUE(load({{"PERSONAPLEX_SSL_INSECURE", "true"}}).ok());
}

TEST(Settings, ProvidersRequireTheirCredentialsOnlyWhenUsed) {
  EXPECT_TRUE(has_diag(load({{"TTS_PROVIDER", "azure"}}), Diagnostic::Severity::error,
                       "AZURE_TTS_KEY", "AZURE_TTS_REGION"));
  EXPECT_TRUE(has_diag(load({{"MODEL_PROVIDER", "openai"}}), Diagnostic::Severity::error,
                       "OPENAI_API_KEY", "LLM_BASE_URL"));
  // A local OpenAI-compatible server needs no key.
  EXPECT_TRUE(
      load({{"MODEL_PROVIDER", "openai"}, {"LLM_BASE_URL", "http://127.0.0.1:8080/v1"}}).ok());
  // The cascade is not used by personaplex without fallback: its providers are not checked.
  EXPECT_TRUE(load({{"CONVERSATION_BACKEND", "personaplex"},
                    {"PERSONAPLEX_SERVER_URL", "http://x:8998"},
                    {"TTS_PROVIDER", "azure"}})
                  .ok());
  EXPECT_FALSE(load({{"CONVERSATION_BACKEND", "personaplex"},
                     {"PERSONAPLEX_SERVER_URL", "http://x:8998"},
                     {"PERSONAPLEX_FALLBACK_TO_LLM", "true"},
                     {"TTS_PROVIDER", "azure"}})
                   .ok());
}

TEST(Settings, DescribeMasksSecretsAndShowsOrigins) {
  EnvSource source(EnvMap{{"OPENAI_API_KEY", "sk-file-secret-value"}},
                   EnvMap{{"PODIUM_TOKEN", "podium-secret-token"}, {"VAD_SILENCE_MS", "650"}});
  auto l = load_settings(source);
  const auto text = describe(l);
  EXPECT_EQ(text.find("sk-file-secret-value"), std::string::npos);
  EXPECT_EQ(text.find("podium-secret-token"), std::string::npos);
  EXPECT_NE(text.find("OPENAI_API_KEY"), std::string::npos);
  EXPECT_NE(text.find("**** (20 chars)  (file)"), std::string::npos) << text;
  EXPECT_NE(text.find("650  (env)"), std::string::npos) << text;
  // The raw secret values are kept for the log redactor.
  EXPECT_NE(std::find(l.secret_values.begin(), l.secret_values.end(), "podium-secret-token"),
            l.secret_values.end());
}

// Every variable the program reads is documented in .env.example with its default, and every
// variable documented there is one the program reads.
TEST(Settings, EnvExampleDocumentsEveryVariableWithItsDefault) {
  std::ifstream in(std::string(PV_SOURCE_DIR) + "/.env.example");
  ASSERT_TRUE(in) << ".env.example missing";
  std::stringstream ss;
  ss << in.rdbuf();
  auto documented = parse_dotenv(ss.str(), ".env.example");
  ASSERT_TRUE(documented.has_value()) << documented.error().to_string();

  // Read with everything selected so conditional sections are visited too.
  auto l = load({{"CONVERSATION_BACKEND", "personaplex"},
                 {"PERSONAPLEX_SERVER_URL", "http://x"},
                 {"PERSONAPLEX_FALLBACK_TO_LLM", "true"}});
  std::set<std::string> read;
  for (const auto& v : l.variables) {
    read.insert(v.name);
    auto it = documented->find(v.name);
    ASSERT_NE(it, documented->end()) << v.name << " is read but not documented in .env.example";
    if (!v.secret && !v.default_value.empty() && v.name != "CONVERSATION_BACKEND" &&
        v.name != "PERSONAPLEX_SERVER_URL" && v.name != "PERSONAPLEX_FALLBACK_TO_LLM") {
      // Paths derived from OUTPUT_DIR are documented as empty (= derived).
      if (it->second.empty()) {
        continue;
      }
      EXPECT_EQ(it->second, v.default_value)
          << v.name << ": .env.example shows a different default";
    }
  }
  for (const auto& [name, value] : *documented) {
    EXPECT_TRUE(read.count(name)) << name << " is documented in .env.example but never read";
  }
}

} // namespace
} // namespace pv::config
