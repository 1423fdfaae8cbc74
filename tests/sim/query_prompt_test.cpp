// Query decoding (aiohttp/yarl rules) and the /api/chat validation and prompt-phase plan.

#include "sim/prompt.hpp"
#include "sim/query.hpp"

#include "audio/wav.hpp"

#include <algorithm>
#include <filesystem>
#include <fstream>

#include <unistd.h>

#include <gtest/gtest.h>

namespace pv::sim {
namespace {

TEST(QueryParams, PlusIsSpaceAndPercentEscapesAreBytes) {
  const auto value = [](std::string_view encoded) {
    return QueryParams::parse("k=" + std::string(encoded)).get("k");
  };
  EXPECT_EQ(value("a+b%20c"), "a b c");
  EXPECT_EQ(value("1%2B1"), "1+1");
  EXPECT_EQ(value("%E2%96%81x"), "\xE2\x96\x81x"); // UTF-8 bytes pass through
  EXPECT_EQ(value("100%"), "100%");                // incomplete escape kept
  EXPECT_EQ(value("%zz%4"), "%zz%4");              // invalid escapes kept
  EXPECT_EQ(value("%41%62"), "Ab");
}

TEST(QueryParams, ParsesLikeParseQslWithBlankValues) {
  const auto q = QueryParams::parse("text_prompt=Hello+there%21&voice_prompt=NATF2.pt&seed&&x=1=2");
  EXPECT_EQ(q.get("text_prompt"), "Hello there!");
  EXPECT_EQ(q.get("voice_prompt"), "NATF2.pt");
  EXPECT_TRUE(q.contains("seed"));
  EXPECT_EQ(q.get("seed"), "");
  EXPECT_EQ(q.get("x"), "1=2"); // split on the first '=' only
  EXPECT_FALSE(q.get("missing").has_value());
  EXPECT_EQ(q.items().size(), 4u); // the empty piece is skipped
}

TEST(QueryParams, FirstValueWinsAndKeysAreDecoded) {
  const auto q = QueryParams::parse("a=1&a=2&se%65d=5&text+prompt=z");
  EXPECT_EQ(q.get("a"), "1");
  EXPECT_TRUE(q.contains("seed"));
  EXPECT_EQ(q.get("text prompt"), "z");
}

TEST(SystemTags, WrapsUnlessAlreadyTagged) {
  EXPECT_EQ(wrap_with_system_tags("  Be nice.  "), "<system> Be nice. <system>");
  EXPECT_EQ(wrap_with_system_tags("<system> Be nice. <system>"), "<system> Be nice. <system>");
  // Only one side tagged: wrapped again (the real rule checks both ends).
  EXPECT_EQ(wrap_with_system_tags("<system> x"), "<system> <system> x <system>");
  EXPECT_EQ(wrap_with_system_tags("   "), "<system>  <system>");
}

TEST(TextTokens, EstimateIsQuarterOfWrappedBytesAndGrows) {
  const std::string ui_default = "You are a wise and friendly teacher. Answer questions or provide "
                                 "advice in a clear and engaging way.";
  EXPECT_EQ(estimate_text_tokens(ui_default),
            static_cast<int>((wrap_with_system_tags(ui_default).size() + 3) / 4));
  EXPECT_EQ(estimate_text_tokens(ui_default), 30);
  EXPECT_LT(estimate_text_tokens("Hi"), estimate_text_tokens(ui_default));
  EXPECT_LT(estimate_text_tokens(ui_default), estimate_text_tokens(ui_default + " " + ui_default));
  EXPECT_GE(estimate_text_tokens(""), 1);
}

TEST(Voices, EighteenShippedNames) {
  const auto& voices = shipped_voices();
  ASSERT_EQ(voices.size(), 18u);
  for (const char* name : {"NATF0.pt", "NATF3.pt", "NATM0.pt", "NATM3.pt", "VARF0.pt", "VARF4.pt",
                           "VARM0.pt", "VARM4.pt"}) {
    EXPECT_NE(std::find(voices.begin(), voices.end(), name), voices.end()) << name;
  }
  VoiceCatalog catalog;
  EXPECT_EQ(voice_prompt_frames("NATF2.pt", catalog), 50);
  EXPECT_FALSE(voice_prompt_frames("NATF4.pt", catalog).has_value());
  EXPECT_FALSE(voice_prompt_frames("natf0.pt", catalog).has_value()); // case matters (file names)
  catalog.frames_by_name["NATF2.pt"] = 7;
  EXPECT_EQ(voice_prompt_frames("NATF2.pt", catalog), 7);
}

TEST(Voices, VoiceDirectoryFilesAreKnownAndWavCountsItsDuration) {
  const auto dir =
      std::filesystem::temp_directory_path() / ("pv_sim_voices_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "Custom.pt") << "not really torch";
  audio::PcmBuffer clip{24000, std::vector<int16_t>(24000 * 2 + 100, 0)}; // 2.004 s
  ASSERT_TRUE(audio::write_wav(dir / "me.wav", clip));
  std::filesystem::create_directories(dir / "sub.pt");
  std::ofstream(dir / "Broken.pt").flush(); // empty: a corrupt prompt

  VoiceCatalog catalog;
  catalog.voice_dir = dir.string();
  catalog.default_frames = 40;
  EXPECT_EQ(voice_prompt_frames("Custom.pt", catalog), 40);
  EXPECT_EQ(voice_prompt_frames("me.wav", catalog), 26);            // ceil(2004 / 80)
  EXPECT_EQ(voice_prompt_frames("NATM1.pt", catalog), 40);          // shipped names stay known
  EXPECT_FALSE(voice_prompt_frames("sub.pt", catalog).has_value()); // a directory is no voice
  EXPECT_FALSE(voice_prompt_frames("missing.pt", catalog).has_value());
  EXPECT_FALSE(voice_prompt_frames("../Custom.pt", catalog).has_value());
  EXPECT_FALSE(voice_prompt_frames("", catalog).has_value());
  EXPECT_EQ(voice_prompt_frames("Broken.pt", catalog), 40); // it exists...
  EXPECT_TRUE(voice_prompt_corrupt("Broken.pt", catalog));  // ...but cannot be loaded
  EXPECT_FALSE(voice_prompt_corrupt("Custom.pt", catalog));
  EXPECT_FALSE(voice_prompt_corrupt("NATF0.pt", catalog));
  EXPECT_FALSE(voice_prompt_corrupt("missing.pt", catalog));
  std::filesystem::remove_all(dir);
}

TEST(ChatRequest, ValidatesInTheRealHandlersOrder) {
  VoiceCatalog catalog;
  auto kind = [&](const std::string& query) {
    auto r = parse_chat_request(QueryParams::parse(query), catalog);
    return r ? std::string("ok") : std::string(to_string(r.error().kind));
  };
  EXPECT_EQ(kind("text_prompt=x&voice_prompt=NATF0.pt"), "ok");
  EXPECT_EQ(kind("text_prompt=x"), "missing_voice_prompt");
  EXPECT_EQ(kind(""), "missing_voice_prompt");
  EXPECT_EQ(kind("voice_prompt=a/NATF0.pt&text_prompt=x"), "invalid_voice_name");
  EXPECT_EQ(kind("voice_prompt=NOPE.pt&text_prompt=x"), "unknown_voice");
  EXPECT_EQ(kind("voice_prompt=NOPE.pt"), "unknown_voice"); // the voice is checked first
  EXPECT_EQ(kind("voice_prompt=NATF0.pt"), "missing_text_prompt");
  EXPECT_EQ(kind("voice_prompt=NATF0.pt&text_prompt=x&seed=1"), "seed_present");
  EXPECT_EQ(kind("voice_prompt=NATF0.pt&text_prompt=x&seed"), "seed_present");
  EXPECT_EQ(kind("voice_prompt=NATF0.pt&text_prompt=x&text_seed=1&audio_seed=2"), "ok");
  EXPECT_EQ(kind("voice_prompt=NATF0.pt&seed=1"), "missing_text_prompt");
}

TEST(ChatRequest, EmptyTextPromptPassesValidationButPlansACrash) {
  VoiceCatalog catalog;
  catalog.default_frames = 12;
  auto r = parse_chat_request(QueryParams::parse("voice_prompt=NATF0.pt&text_prompt="), catalog);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->text_tokens, -1);
  const PromptPlan plan = plan_prompt_phase(r->voice_frames, r->text_tokens);
  EXPECT_TRUE(plan.empty_text);
  EXPECT_EQ(plan.crash_after_probes(), 12 + 6);
}

TEST(ChatRequest, RecordsWhatTheRealHandlerWroteBeforeFailing) {
  VoiceCatalog catalog;
  auto seeded = parse_chat_request(
      QueryParams::parse("voice_prompt=NATF0.pt&text_prompt=hello+there&seed=3"), catalog);
  ASSERT_FALSE(seeded);
  EXPECT_EQ(seeded.error().write.voice_frames, 50);
  EXPECT_EQ(seeded.error().write.text_tokens, estimate_text_tokens("hello there"));
  auto no_text = parse_chat_request(QueryParams::parse("voice_prompt=NATF0.pt"), catalog);
  ASSERT_FALSE(no_text);
  EXPECT_EQ(no_text.error().write.voice_frames, 50);
  EXPECT_FALSE(no_text.error().write.text_tokens.has_value());
  auto bad_voice =
      parse_chat_request(QueryParams::parse("voice_prompt=x.pt&text_prompt=a"), catalog);
  ASSERT_FALSE(bad_voice);
  EXPECT_FALSE(bad_voice.error().write.voice_frames.has_value());
}

TEST(PromptPlan, StepsAreVoicePlusTwelvePlusTextAndOneMoreProbe) {
  const PromptPlan plan = plan_prompt_phase(50, 30);
  EXPECT_EQ(plan.lm_steps(), 50 + 6 + 30 + 6);
  EXPECT_EQ(plan.probes(), 93);
  EXPECT_EQ(plan.crash_after_probes(), -1);
}

} // namespace
} // namespace pv::sim
