#include "cascade/fillers.hpp"
#include "cascade/personas.hpp"

#include "audio/resampler.hpp"
#include "audio/wav.hpp"
#include "cascade_test_util.hpp"

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace pv::cascade {
namespace {

namespace fs = std::filesystem;
using testing::rms;

const fs::path kFillers = resolve_assets_dir("") / "fillers";

// Every manifest under assets/fillers: each clip exists, parses as WAV, is not silent, is small,
// and has the rate/duration the manifest claims (checked independently of the loader).
TEST(FillerAssets, EveryClipOfEveryManifestIsRealAudio) {
  int manifests = 0;
  for (const auto& entry : fs::directory_iterator(kFillers)) {
    if (!entry.is_directory()) {
      continue;
    }
    const fs::path manifest_path = entry.path() / "manifest.json";
    ASSERT_TRUE(fs::exists(manifest_path)) << entry.path();
    ++manifests;
    std::ifstream in(manifest_path);
    const auto manifest = nlohmann::json::parse(in);
    ASSERT_FALSE(manifest["clips"].empty());
    for (const auto& clip : manifest["clips"]) {
      const fs::path wav = entry.path() / clip["path"].get<std::string>();
      ASSERT_TRUE(fs::exists(wav)) << wav;
      EXPECT_LT(fs::file_size(wav), 60U * 1024U) << wav;
      auto pcm = audio::read_wav(wav);
      ASSERT_TRUE(pcm) << wav << ": " << pcm.error().message;
      EXPECT_EQ(pcm->sample_rate, 48000) << wav;
      EXPECT_EQ(pcm->sample_rate, clip["sample_rate_hz"].get<int>()) << wav;
      EXPECT_NEAR(static_cast<double>(pcm->duration_ms()), clip["duration_ms"].get<double>(), 20.0)
          << wav;
      EXPECT_GT(pcm->duration_ms(), 150) << wav;
      EXPECT_GT(rms(pcm->samples), 500.0) << wav << " is (nearly) silent";
      EXPECT_FALSE(clip["text"].get<std::string>().empty());
      EXPECT_FALSE(clip["use_case"].get<std::string>().empty());
    }
  }
  EXPECT_GE(manifests, 2) << "at least default and hype";
  EXPECT_TRUE(fs::exists(kFillers / "default" / "manifest.json"));
  EXPECT_TRUE(fs::exists(kFillers / "hype" / "manifest.json"));
}

TEST(FillerBank, LoadsPersonaFallsBackToDefaultAndLowerCases) {
  auto hype = FillerBank::load(kFillers, "HYPE");
  ASSERT_TRUE(hype) << hype.error().message;
  EXPECT_EQ(hype->persona(), "hype");
  EXPECT_GE(hype->clips().size(), 3U);
  for (const auto& clip : hype->clips()) {
    EXPECT_EQ(clip.pcm.sample_rate, 48000);
    EXPECT_FALSE(clip.pcm.samples.empty());
  }
  auto orator = FillerBank::load(kFillers, "orator"); // no own fillers
  ASSERT_TRUE(orator);
  EXPECT_EQ(orator->persona(), "default");
  auto escape = FillerBank::load(kFillers, "../personas");
  ASSERT_TRUE(escape);
  EXPECT_EQ(escape->persona(), "default");
}

TEST(FillerBank, ChooseRotatesWithinAUseCase) {
  auto bank = FillerBank::load(kFillers, "default");
  ASSERT_TRUE(bank);
  const FillerClip* first = bank->choose("thinking", 0);
  ASSERT_NE(first, nullptr);
  EXPECT_EQ(first->use_case, "thinking");
  std::set<std::string> seen;
  for (uint64_t turn = 0; turn < 8; ++turn) {
    const FillerClip* c = bank->choose("thinking", turn);
    ASSERT_NE(c, nullptr);
    EXPECT_EQ(c->use_case, "thinking");
    seen.insert(c->id);
  }
  EXPECT_GE(seen.size(), 2U) << "consecutive turns vary";
  EXPECT_NE(bank->choose("thinking", 0)->id, bank->choose("thinking", 1)->id);
  // Unknown use case: any clip.
  EXPECT_NE(bank->choose("no-such-use", 3), nullptr);
  EXPECT_NE(bank->choose("", 0), nullptr);
}

class FillerManifestTest : public ::testing::Test {
protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("pv_fillers_" + std::to_string(reinterpret_cast<uintptr_t>(this)));
    fs::create_directories(dir_ / "default");
    audio::PcmBuffer tone;
    tone.sample_rate = 48000;
    for (int i = 0; i < 24000; ++i) {
      tone.samples.push_back(static_cast<int16_t>(8000 * std::sin(i * 2 * M_PI * 440 / 48000)));
    }
    ASSERT_TRUE(audio::write_wav(dir_ / "default" / "tone.wav", tone));
    audio::PcmBuffer silent;
    silent.sample_rate = 48000;
    silent.samples.assign(4800, 0);
    ASSERT_TRUE(audio::write_wav(dir_ / "default" / "silent.wav", silent));
    std::ofstream(dir_ / "default" / "garbage.wav") << "not a wav file at all";
  }
  void TearDown() override { fs::remove_all(dir_); }

  tl::expected<std::vector<FillerClip>, FillerError> load_with(const std::string& clips_json) {
    std::ofstream(dir_ / "default" / "manifest.json") << R"({"clips":[)" << clips_json << "]}";
    return load_filler_manifest(dir_ / "default" / "manifest.json");
  }
  static std::string clip(const std::string& path, int rate = 48000, int ms = 500,
                          const std::string& id = "a") {
    return R"({"id":")" + id + R"(","path":")" + path +
           R"(","text":"Hmm.","use_case":"thinking","sample_rate_hz":)" + std::to_string(rate) +
           R"(,"duration_ms":)" + std::to_string(ms) + "}";
  }
  fs::path dir_;
};

TEST_F(FillerManifestTest, ValidClipLoads) {
  auto clips = load_with(clip("tone.wav"));
  ASSERT_TRUE(clips) << clips.error().message;
  ASSERT_EQ(clips->size(), 1U);
  EXPECT_EQ((*clips)[0].pcm.samples.size(), 24000U);
}

TEST_F(FillerManifestTest, EveryDefectIsATypedError) {
  auto expect = [&](const std::string& json, FillerErrorKind kind, const std::string& needle) {
    auto r = load_with(json);
    ASSERT_FALSE(r) << json;
    EXPECT_EQ(r.error().kind, kind) << json;
    EXPECT_NE(r.error().message.find(needle), std::string::npos) << r.error().message;
  };
  expect(clip("silent.wav", 48000, 100), FillerErrorKind::bad_clip, "silent");
  expect(clip("garbage.wav"), FillerErrorKind::bad_clip, "garbage.wav");
  expect(clip("missing.wav"), FillerErrorKind::bad_clip, "missing.wav");
  expect(clip("tone.wav", 16000), FillerErrorKind::bad_clip, "sample rate");
  expect(clip("tone.wav", 48000, 900), FillerErrorKind::bad_clip, "duration");
  expect(clip("../default/tone.wav"), FillerErrorKind::bad_manifest, "inside");
  expect(clip("/etc/passwd"), FillerErrorKind::bad_manifest, "relative");
  expect(clip("tone.wav") + "," + clip("tone.wav"), FillerErrorKind::bad_manifest, "duplicate");
  expect(R"({"id":"a","path":"tone.wav"})", FillerErrorKind::bad_manifest, "text");
  expect("", FillerErrorKind::bad_manifest, "no clips");
  std::ofstream(dir_ / "default" / "manifest.json") << "{ nope";
  auto broken = load_filler_manifest(dir_ / "default" / "manifest.json");
  ASSERT_FALSE(broken);
  EXPECT_EQ(broken.error().kind, FillerErrorKind::bad_manifest);
  auto none = FillerBank::load(dir_ / "nowhere", "default");
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().kind, FillerErrorKind::missing_manifest);
}

// Regenerates assets/fillers/{default,hype} from flite (kal16), trimmed, faded and resampled to
// 48 kHz with libsoxr. Run on purpose only:
//   test_cascade --gtest_also_run_disabled_tests --gtest_filter=FillerAssets.DISABLED_Regenerate
TEST(FillerAssets, DISABLED_Regenerate) {
  struct Spec {
    const char* id;
    const char* text; // as written in the manifest
    const char* use_case;
    const char* spoken = nullptr; // what flite is given, if different (its comma pause is long)
  };
  struct PersonaSpec {
    const char* persona;
    int rate_percent;
    int pitch_percent;
    const char* voice;
    std::vector<Spec> clips;
  };
  const std::vector<PersonaSpec> personas = {
      {"default",
       105,
       0,
       "kal16",
       {{"hmm", "Hmm.", "thinking"},
        {"right", "Right.", "acknowledge"},
        {"okay_so", "Okay, so...", "thinking", "Okay so."},
        {"good_question", "Good question.", "question"}}},
      {"hype",
       115,
       15,
       "kal16",
       {{"oh_nice", "Oh, nice!", "acknowledge", "Oh nice!"},
        {"love_it", "Love it!", "acknowledge"},
        {"lets_see", "Let's see!", "thinking"},
        {"great_question", "Great question!", "question"}}},
  };
  for (const auto& p : personas) {
    const fs::path dir = kFillers / p.persona;
    fs::create_directories(dir);
    nlohmann::json manifest;
    manifest["clips"] = nlohmann::json::array();
    for (const auto& c : p.clips) {
      // Speed a clip up (from the persona's rate, at most 160 %) until it fits in 0.58 s: a
      // filler must be short, and the files stay under 60 KB at 48 kHz.
      audio::PcmBuffer clip16;
      for (VoiceOptions voice{p.rate_percent, p.pitch_percent, p.voice}; voice.rate_percent <= 160;
           voice.rate_percent += 5) {
        auto speech = testing::speak(c.spoken != nullptr ? c.spoken : c.text, voice);
        const auto [first, last] = testing::audible_span(speech.samples);
        ASSERT_LT(first, last) << c.text;
        const std::size_t margin = 16 * 30; // 30 ms either side
        const std::size_t begin = first > margin ? first - margin : 0;
        const std::size_t end = std::min(speech.samples.size(), last + margin);
        clip16 = {16000,
                  {speech.samples.begin() + static_cast<std::ptrdiff_t>(begin),
                   speech.samples.begin() + static_cast<std::ptrdiff_t>(end)}};
        if (clip16.duration_ms() <= 580) {
          break;
        }
      }
      ASSERT_LE(clip16.duration_ms(), 580) << c.text;
      auto clip48 = audio::resample_clip(clip16, 48000);
      ASSERT_TRUE(clip48) << clip48.error();
      auto& s = clip48->samples;
      const std::size_t fade = 48 * 5; // 5 ms fades: no click at either end
      for (std::size_t i = 0; i < fade && i < s.size(); ++i) {
        const double g = static_cast<double>(i) / fade;
        s[i] = static_cast<int16_t>(s[i] * g);
        s[s.size() - 1 - i] = static_cast<int16_t>(s[s.size() - 1 - i] * g);
      }
      const std::string file = std::string(c.id) + ".wav";
      ASSERT_TRUE(audio::write_wav(dir / file, *clip48));
      ASSERT_LT(fs::file_size(dir / file), 60U * 1024U) << file;
      manifest["clips"].push_back({{"id", c.id},
                                   {"path", file},
                                   {"text", c.text},
                                   {"use_case", c.use_case},
                                   {"sample_rate_hz", 48000},
                                   {"duration_ms", clip48->duration_ms()}});
    }
    std::ofstream(dir / "manifest.json") << manifest.dump(2) << "\n";
  }
}

} // namespace
} // namespace pv::cascade
