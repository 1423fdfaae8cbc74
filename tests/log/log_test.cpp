#include "log/log.hpp"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

namespace pv::log {
namespace {

std::filesystem::path temp_file(const std::string& name) {
  auto dir = std::filesystem::temp_directory_path() / ("pv_log_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  auto p = dir / name;
  std::filesystem::remove(p);
  return p;
}

std::vector<std::string> read_lines(const std::filesystem::path& p) {
  spdlog::default_logger()->flush();
  std::ifstream in(p);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) {
    lines.push_back(line);
  }
  return lines;
}

TEST(Redact, MasksRegisteredSecretsEverywhere) {
  add_secret("podium-token-ABCDEF123");
  const auto out = redact("joining with podium-token-ABCDEF123 and again podium-token-ABCDEF123!");
  EXPECT_EQ(out.find("podium-token-ABCDEF123"), std::string::npos);
  EXPECT_EQ(out, "joining with **** and again ****!");
}

TEST(Redact, MasksCredentialPatternsItWasNotToldAbout) {
  const std::string text =
      "Authorization: Bearer abcDEF123456.xyz url=https://h/v1?key=AIzaSyABCDEF123&x=1 "
      "openai sk-proj-AbCdEfGhIjKlMnOp HF_TOKEN=hf_abcdefghijklmnop "
      "{\"api_key\": \"secret-value-9\"} Ocp-Apim-Subscription-Key: azurekey123";
  const auto out = redact(text);
  for (const char* secret : {"abcDEF123456.xyz", "AIzaSyABCDEF123", "sk-proj-AbCdEfGhIjKlMnOp",
                             "hf_abcdefghijklmnop", "secret-value-9", "azurekey123"}) {
    EXPECT_EQ(out.find(secret), std::string::npos) << secret << " leaked in: " << out;
  }
  EXPECT_NE(out.find("x=1"), std::string::npos) << "non-secret parameters are kept: " << out;
}

TEST(Redact, LeavesOrdinaryTextAlone) {
  const std::string text = "user said: the key point is tokens of appreciation";
  EXPECT_EQ(redact(text), text);
}

TEST(Logging, JsonLinesCarryEventFieldsAndNeverTheSecret) {
  const auto file = temp_file("json.log");
  config::LogSettings settings;
  settings.level = "debug";
  settings.format = config::LogFormat::json;
  settings.file = file.string();
  ASSERT_EQ(init(settings, {"hf_SuperSecretToken42"}), "");

  info_event("TURN_METRICS", {{"turn_id", 3}, {"total_ms", 812.5}});
  spdlog::info("loading model with HF_TOKEN hf_SuperSecretToken42");
  event(spdlog::level::trace, "TOO_LOW", {}); // below the level: not written
  warn_event("CONFIG_WARNING", {{"message", "Authorization: Bearer zzzzzzzzzz"}});

  const auto lines = read_lines(file);
  ASSERT_EQ(lines.size(), 3u);
  auto first = nlohmann::json::parse(lines[0]);
  EXPECT_EQ(first["event"], "TURN_METRICS");
  EXPECT_EQ(first["turn_id"], 3);
  EXPECT_DOUBLE_EQ(first["total_ms"].get<double>(), 812.5);
  EXPECT_EQ(first["level"], "info");
  EXPECT_TRUE(first.contains("ts"));
  auto second = nlohmann::json::parse(lines[1]);
  EXPECT_EQ(second["msg"].get<std::string>().find("hf_SuperSecretToken42"), std::string::npos);
  auto third = nlohmann::json::parse(lines[2]);
  EXPECT_EQ(third["level"], "warning");
  EXPECT_EQ(third["message"].get<std::string>().find("zzzzzzzzzz"), std::string::npos);
}

TEST(Logging, TextFormatIsReadable) {
  const auto file = temp_file("text.log");
  config::LogSettings settings;
  settings.format = config::LogFormat::text;
  settings.file = file.string();
  ASSERT_EQ(init(settings, {}), "");
  info_event("USER_TRANSCRIPT", {{"textLength", 12}, {"text", "hello there"}});
  spdlog::debug("hidden at info level");
  const auto lines = read_lines(file);
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_NE(lines[0].find(" info USER_TRANSCRIPT"), std::string::npos) << lines[0];
  EXPECT_NE(lines[0].find("text=\"hello there\""), std::string::npos) << lines[0];
  EXPECT_NE(lines[0].find("textLength=12"), std::string::npos) << lines[0];
}

TEST(Logging, UnopenableLogFileIsReported) {
  config::LogSettings settings;
  settings.file = "/proc/podium-voices-cannot-write/x.log";
  const auto error = init(settings, {});
  EXPECT_NE(error.find("LOG_FILE"), std::string::npos) << error;
}

} // namespace
} // namespace pv::log
