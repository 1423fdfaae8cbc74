#include "cascade/tts/flite_tts.hpp"
#include "cascade/tts/tts_registry.hpp"

#include "cascade_test_util.hpp"

#include <algorithm>
#include <atomic>
#include <thread>

#include <gtest/gtest.h>

namespace pv::cascade {
namespace {

using testing::flite;
using testing::rms;
using testing::speak;

struct Collected {
  std::vector<int16_t> samples;
  std::vector<int> rates;
  int chunks = 0;
  int last_flags = 0;
  bool last_was_final = false;
};

tl::expected<TtsResult, ProviderError> synth(TtsProvider& tts, TtsRequest request, Collected& out) {
  return tts.synthesize(request, [&](const TtsChunk& chunk) {
    out.samples.insert(out.samples.end(), chunk.samples.begin(), chunk.samples.end());
    out.rates.push_back(chunk.sample_rate_hz);
    ++out.chunks;
    out.last_flags += chunk.last ? 1 : 0;
    out.last_was_final = chunk.last;
  });
}

// Median pitch (Hz) of the voiced 40 ms windows, by autocorrelation over 60..400 Hz.
double median_f0(const std::vector<int16_t>& pcm) {
  constexpr int kWin = 640;
  std::vector<double> f0s;
  const double loud = rms(pcm) * 0.8;
  for (std::size_t start = 0; start + kWin <= pcm.size(); start += kWin) {
    const int16_t* x = pcm.data() + start;
    if (rms(x, kWin) < loud) {
      continue;
    }
    double best = 0;
    int best_lag = 0;
    for (int lag = 16000 / 400; lag <= 16000 / 60; ++lag) {
      double num = 0;
      double den_a = 0;
      double den_b = 0;
      for (int i = 0; i + lag < kWin; ++i) {
        num += static_cast<double>(x[i]) * x[i + lag];
        den_a += static_cast<double>(x[i]) * x[i];
        den_b += static_cast<double>(x[i + lag]) * x[i + lag];
      }
      const double r = num / std::sqrt(den_a * den_b + 1e-9);
      if (r > best) {
        best = r;
        best_lag = lag;
      }
    }
    if (best > 0.6 && best_lag > 0) {
      f0s.push_back(16000.0 / best_lag);
    }
  }
  if (f0s.empty()) {
    return 0;
  }
  std::sort(f0s.begin(), f0s.end());
  return f0s[f0s.size() / 2];
}

TEST(FliteTts, StreamsAudibleSixteenKilohertzSpeechOfPlausibleLength) {
  Collected out;
  TtsRequest request;
  request.text = "Hello there, and welcome to the show. How are you all doing today?";
  auto result = synth(flite(), request, out);
  ASSERT_TRUE(result) << result.error().message;
  EXPECT_EQ(result->sample_rate_hz, 16000);
  EXPECT_TRUE(std::all_of(out.rates.begin(), out.rates.end(), [](int r) { return r == 16000; }));
  EXPECT_GT(out.chunks, 5) << "streamed in chunks, not one block";
  EXPECT_EQ(out.last_flags, 1);
  EXPECT_TRUE(out.last_was_final);
  EXPECT_EQ(result->samples, static_cast<int64_t>(out.samples.size()));
  EXPECT_EQ(result->chunks, out.chunks);
  EXPECT_GT(rms(out.samples), 500.0) << "well above the silence floor";
  // 13 words: a person says them in ~3-6 s; accept 2..9 s.
  const double seconds = static_cast<double>(out.samples.size()) / 16000.0;
  EXPECT_GT(seconds, 2.0);
  EXPECT_LT(seconds, 9.0);
  EXPECT_LE(result->first_chunk_ms, result->total_ms);
}

TEST(FliteTts, LongerTextGivesLongerAudio) {
  const auto short_clip = speak("Yes.");
  const auto long_clip = speak("Yes, and then we walked all the way down to the river together.");
  EXPECT_GT(long_clip.samples.size(), 3 * short_clip.samples.size());
}

TEST(FliteTts, RateStretchesDuration) {
  const std::string text = "The quick brown fox jumps over the lazy dog.";
  const double normal = static_cast<double>(speak(text).samples.size());
  const double slow = static_cast<double>(speak(text, {50, 0, ""}).samples.size());
  const double fast = static_cast<double>(speak(text, {200, 0, ""}).samples.size());
  EXPECT_NEAR(slow / normal, 2.0, 0.4);
  EXPECT_NEAR(fast / normal, 0.5, 0.15);
}

TEST(FliteTts, PitchRaisesFundamental) {
  const std::string text = "Good morning everyone, how are you doing today?";
  const double base = median_f0(speak(text).samples);
  const double high = median_f0(speak(text, {100, 40, ""}).samples);
  ASSERT_GT(base, 60.0);
  EXPECT_GT(high / base, 1.2) << "base " << base << " Hz, +40% " << high << " Hz";
}

TEST(FliteTts, PerRequestSettingsDoNotLeakIntoLaterCalls) {
  const std::string text = "Please turn on the lights in the kitchen.";
  const auto before = speak(text).samples;
  (void)speak(text, {60, 30, ""});
  EXPECT_EQ(speak(text).samples, before);
}

TEST(FliteTts, CancelStopsBetweenChunks) {
  CancelSource cancel;
  TtsRequest request;
  request.text = "This is a long sentence that keeps going and going so that there are many "
                 "chunks of audio for the cancellation to interrupt before it is finished.";
  request.cancel = cancel.token();
  int chunks = 0;
  int64_t samples = 0;
  auto result = flite().synthesize(request, [&](const TtsChunk& chunk) {
    ++chunks;
    samples += static_cast<int64_t>(chunk.samples.size());
    cancel.cancel(); // e.g. barge-in while the first chunk is being played
  });
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().kind, ProviderErrorKind::cancelled);
  EXPECT_EQ(chunks, 1) << "no chunk after the cancel";
  Collected full;
  request.cancel = {};
  ASSERT_TRUE(synth(flite(), request, full));
  EXPECT_LT(samples * 10, static_cast<int64_t>(full.samples.size()));
}

TEST(FliteTts, AlreadyCancelledDeliversNothing) {
  CancelSource cancel;
  cancel.cancel();
  TtsRequest request;
  request.text = "Hello.";
  request.cancel = cancel.token();
  int chunks = 0;
  auto result = flite().synthesize(request, [&](const TtsChunk&) { ++chunks; });
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().kind, ProviderErrorKind::cancelled);
  EXPECT_EQ(chunks, 0);
}

TEST(FliteTts, BadRequestsAreTypedErrors) {
  auto expect_bad = [](TtsRequest r, const char* why) {
    int chunks = 0;
    auto result = flite().synthesize(r, [&](const TtsChunk&) { ++chunks; });
    ASSERT_FALSE(result) << why;
    EXPECT_EQ(result.error().kind, ProviderErrorKind::bad_input) << why;
    EXPECT_FALSE(result.error().message.empty());
    EXPECT_EQ(chunks, 0) << why;
  };
  TtsRequest r;
  r.text = "   \n ";
  expect_bad(r, "blank text");
  r.text = std::string(kMaxTtsTextChars + 1, 'a');
  expect_bad(r, "too long");
  r.text = "Hello.";
  r.voice.rate_percent = 10;
  expect_bad(r, "rate");
  r.voice = {};
  r.voice.pitch_percent = 500;
  expect_bad(r, "pitch");
  r.voice = {};
  r.voice.voice = "en-US-Neural2-D"; // a Google voice must not reach flite silently
  expect_bad(r, "foreign voice name");
}

TEST(FliteTts, PunctuationOnlyStillEndsTheStream) {
  Collected out;
  TtsRequest request;
  request.text = "...";
  auto result = synth(flite(), request, out);
  ASSERT_TRUE(result) << result.error().message;
  EXPECT_TRUE(out.last_was_final);
  EXPECT_EQ(out.last_flags, 1);
}

TEST(FliteTts, OddInputNeverCrashes) {
  for (const std::string& text : std::vector<std::string>{
           "$$$ %%% ### @@@", "12345678901234567890123456789012345678901234567890",
           "https://example.com/a.b?c=d&e=f#g", "\xE2\x98\x83 snowman \xF0\x9F\x98\x80",
           std::string("control\x01\x02\x07"
                       "chars"),
           "\xFF\xFE\x80 invalid utf8", "a", "Mr. Dr. St. etc. e.g. i.e. vs.",
           std::string(3000, 'x')}) {
    Collected out;
    TtsRequest request;
    request.text = text;
    auto result = synth(flite(), request, out);
    ASSERT_TRUE(result) << text << ": " << result.error().message;
    EXPECT_EQ(out.last_flags, 1) << text;
    EXPECT_TRUE(out.last_was_final) << text;
  }
}

TEST(FliteTts, SinkExceptionBecomesATypedError) {
  TtsRequest request;
  request.text = "Hello there.";
  auto result = flite().synthesize(
      request, [](const TtsChunk&) { throw std::runtime_error("consumer bug"); });
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().kind, ProviderErrorKind::internal);
}

TEST(FliteTts, SltVoiceWorksAndDiffersFromKal16) {
  auto slt = FliteTts::create({"slt", 100});
  ASSERT_TRUE(slt) << slt.error().message;
  Collected a;
  TtsRequest request;
  request.text = "Good morning everyone.";
  ASSERT_TRUE(synth(**slt, request, a));
  EXPECT_GT(rms(a.samples), 300.0);
  EXPECT_NE(a.samples, speak(request.text).samples);
  // A per-request voice overrides the provider default.
  Collected b;
  request.voice.voice = "kal16";
  ASSERT_TRUE(synth(**slt, request, b));
  EXPECT_EQ(b.samples, speak("Good morning everyone.").samples);
}

TEST(FliteTts, UnknownDefaultVoiceFailsCreation) {
  auto tts = FliteTts::create({"awb-typo", 100});
  ASSERT_FALSE(tts);
  EXPECT_EQ(tts.error().kind, ProviderErrorKind::config);
  EXPECT_FALSE(FliteTts::create({"kal16", 0}));
}

TEST(FliteTts, ConcurrentCallersGetIdenticalAudio) {
  const std::string text = "Two speakers can share one synthesizer safely.";
  const auto reference = speak(text).samples;
  std::atomic<int> mismatches{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 10; ++i) {
        Collected out;
        TtsRequest request;
        request.text = text;
        // Other threads use different settings at the same time.
        if (t % 2 == 1) {
          request.voice = {80, 20, ""};
        }
        auto result = synth(flite(), request, out);
        if (!result || (t % 2 == 0 && out.samples != reference)) {
          ++mismatches;
        }
      }
    });
  }
  for (auto& th : threads) {
    th.join();
  }
  EXPECT_EQ(mismatches.load(), 0);
}

TEST(TtsRegistry, BuiltinFliteAndUnknownProvider) {
  auto registry = builtin_tts_registry();
  EXPECT_TRUE(registry.contains("flite"));
  EXPECT_TRUE(registry.contains("FLITE"));
  config::TtsSettings settings;
  settings.flite_voice = "kal16";
  auto tts = registry.create("flite", settings);
  ASSERT_TRUE(tts) << tts.error().message;
  EXPECT_EQ((*tts)->name(), "flite");
  auto espeak = registry.create("espeak", settings);
  ASSERT_FALSE(espeak);
  EXPECT_EQ(espeak.error().kind, ProviderErrorKind::config);
  EXPECT_NE(espeak.error().message.find("TTS_PROVIDER='espeak'"), std::string::npos);
  EXPECT_NE(espeak.error().message.find("flite"), std::string::npos);
  // The registration point for further providers.
  registry.add("espeak", [](const config::TtsSettings&) -> TtsRegistry::Result {
    return tl::unexpected(make_error(ProviderErrorKind::auth, "registered factory ran"));
  });
  auto now = registry.create("espeak", settings);
  ASSERT_FALSE(now);
  EXPECT_EQ(now.error().kind, ProviderErrorKind::auth);
  EXPECT_EQ(registry.names(),
            (std::vector<std::string>{"azure", "espeak", "flite", "google", "openai"}));
}

} // namespace
} // namespace pv::cascade
