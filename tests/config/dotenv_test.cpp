#include "config/dotenv.hpp"

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

namespace pv::config {
namespace {

EnvMap parse_ok(std::string_view text) {
  auto r = parse_dotenv(text, "test.env");
  EXPECT_TRUE(r.has_value()) << (r ? "" : r.error().to_string());
  return r ? *r : EnvMap{};
}

TEST(Dotenv, PlainQuotedExportCommentsAndBlankLines) {
  auto vars = parse_ok("# a comment\n"
                       "\n"
                       "A=1\n"
                       "export B=two words\n"
                       "C='single # not a comment'\n"
                       "D=\"double \\\"quoted\\\"\\nline\"\n"
                       "E=value # trailing comment\n"
                       "F=url#fragment\n"
                       "  G = spaced  \n"
                       "H=\n"
                       "I=''\n");
  EXPECT_EQ(vars.at("A"), "1");
  EXPECT_EQ(vars.at("B"), "two words");
  EXPECT_EQ(vars.at("C"), "single # not a comment");
  EXPECT_EQ(vars.at("D"), "double \"quoted\"\nline");
  EXPECT_EQ(vars.at("E"), "value");
  EXPECT_EQ(vars.at("F"), "url#fragment"); // '#' without a space before it is part of the value
  EXPECT_EQ(vars.at("G"), "spaced");
  EXPECT_EQ(vars.at("H"), "");
  EXPECT_EQ(vars.at("I"), "");
  EXPECT_EQ(vars.size(), 9u);
}

TEST(Dotenv, CrlfLineEndsAndBom) {
  auto vars = parse_ok("\xEF\xBB\xBF"
                       "A=1\r\nB='x'\r\n\r\nC=\"y\"\r\n");
  EXPECT_EQ(vars.at("A"), "1");
  EXPECT_EQ(vars.at("B"), "x");
  EXPECT_EQ(vars.at("C"), "y");
}

TEST(Dotenv, HfTokenWithCarriageReturnIsStripped) {
  // The original's launcher had to strip CR from Windows-edited files; we do it in the parser.
  auto vars = parse_ok("HF_TOKEN=hf_abcdefgh\r\n");
  EXPECT_EQ(vars.at("HF_TOKEN"), "hf_abcdefgh");
}

TEST(Dotenv, LastDefinitionWins) {
  auto vars = parse_ok("A=1\nA=2\n");
  EXPECT_EQ(vars.at("A"), "2");
}

struct BadLine {
  const char* text;
  int line;
  const char* message_part;
};

class DotenvErrors : public ::testing::TestWithParam<BadLine> {};

TEST_P(DotenvErrors, NamesFileLineAndProblem) {
  const auto& p = GetParam();
  auto r = parse_dotenv(p.text, "bad.env");
  ASSERT_FALSE(r.has_value()) << p.text;
  EXPECT_EQ(r.error().file, "bad.env");
  EXPECT_EQ(r.error().line, p.line);
  EXPECT_NE(r.error().message.find(p.message_part), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().to_string().find("bad.env:" + std::to_string(p.line)), std::string::npos);
}

INSTANTIATE_TEST_SUITE_P(Table, DotenvErrors,
                         ::testing::Values(BadLine{"A=1\nnot a pair\n", 2, "expected KEY=VALUE"},
                                           BadLine{"1A=x\n", 1, "invalid variable name '1A'"},
                                           BadLine{"MY-KEY=x\n", 1, "invalid variable name"},
                                           BadLine{"=x\n", 1, "invalid variable name"},
                                           BadLine{"A=\"open\n", 1, "unterminated double quote"},
                                           BadLine{"\n\nA='open\n", 3, "unterminated single quote"},
                                           BadLine{"A=\"x\" junk\n", 1,
                                                   "unexpected text after the closing quote"}));

TEST(EnvSource, ProcessEnvironmentOverridesFileAndOverridesBeatBoth) {
  EnvSource source(EnvMap{{"A", "file"}, {"B", "file"}}, EnvMap{{"A", "env"}}, "x.env");
  EXPECT_EQ(source.get("A"), "env");
  EXPECT_EQ(source.get("B"), "file");
  EXPECT_FALSE(source.get("C").has_value());
  EXPECT_EQ(source.origin("A"), ValueOrigin::process_env);
  EXPECT_EQ(source.origin("B"), ValueOrigin::env_file);
  EXPECT_EQ(source.origin("C"), ValueOrigin::unset);
  source.set_override("A", "cli");
  EXPECT_EQ(source.get("A"), "cli");
  EXPECT_EQ(source.origin("A"), ValueOrigin::command_line);
}

TEST(EnvSource, LoadReadsTheGivenFileAndTheRealEnvironmentWins) {
  auto dir = std::filesystem::temp_directory_path() / ("pv_dotenv_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  auto file = dir / "custom.env";
  std::ofstream(file) << "PV_TEST_ONLY_IN_FILE=from-file\nPV_TEST_BOTH=from-file\n";
  ::setenv("PV_TEST_BOTH", "from-env", 1);
  auto source = EnvSource::load(file);
  ::unsetenv("PV_TEST_BOTH");
  ASSERT_TRUE(source.has_value());
  EXPECT_EQ(source->get("PV_TEST_ONLY_IN_FILE"), "from-file");
  EXPECT_EQ(source->get("PV_TEST_BOTH"), "from-env");
  EXPECT_EQ(source->file_name(), file.string());

  auto missing = EnvSource::load(dir / "nope.env");
  ASSERT_FALSE(missing.has_value());
  EXPECT_NE(missing.error().to_string().find("nope.env"), std::string::npos);
  std::filesystem::remove_all(dir);
}

} // namespace
} // namespace pv::config
