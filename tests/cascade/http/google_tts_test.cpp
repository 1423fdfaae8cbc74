// TTS_PROVIDER=google against a local server speaking Cloud Text-to-Speech v1 text:synthesize
// (JSON request, base64 LINEAR16 audioContent that carries a WAV header).

#include "audio/wav.hpp"
#include "cascade/personas.hpp"
#include "cascade/tts/google_tts.hpp"
#include "cascade/tts/tts_registry.hpp"
#include "fake_api_server.hpp"
#include "support/signal.hpp"

#include <atomic>
#include <cmath>
#include <thread>

#include <openssl/evp.h>

namespace pv::cascade {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using pv::test::Gate;
using testing::kWait;
using testing::LogCapture;
using testing::TtsRecorder;

constexpr const char* kKey = "AIzaSyTEST-SECRET-0123456789abcdefghi";

std::string base64(const std::vector<uint8_t>& bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), bytes.data(),
                                static_cast<int>(bytes.size()));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

// What Google answers for LINEAR16: a whole WAV file, base64-encoded.
std::string synthesize_answer(const std::vector<int16_t>& samples, int rate) {
  audio::PcmBuffer clip;
  clip.sample_rate = rate;
  clip.samples = samples;
  return json{{"audioContent", base64(audio::encode_wav(clip))}}.dump();
}

std::string google_error(int code, const std::string& status, const std::string& message,
                         const std::string& reason = "") {
  json error = {{"code", code}, {"message", message}, {"status", status}};
  if (!reason.empty()) {
    error["details"] = json::array({{{"@type", "type.googleapis.com/google.rpc.ErrorInfo"},
                                     {"reason", reason},
                                     {"domain", "googleapis.com"}}});
  }
  return json{{"error", error}}.dump();
}

class GoogleTtsTest : public testing::FakeApiTest {
protected:
  void serve(Handler handler) { serve_post("/v1/text:synthesize", std::move(handler)); }
  std::unique_ptr<GoogleTts> make() {
    GoogleTtsParams params;
    params.base_url = server_.url("");
    params.api_key = kKey;
    params.voice = "en-US-Neural2-D";
    return testing::created(GoogleTts::create(params));
  }
  static TtsRequest request(const std::string& text = "Welcome to the show.") {
    return testing::tts_request(text);
  }
};

TEST_F(GoogleTtsTest, WavHeaderIsParsedNeverPlayedAndItsRateIsUsed) {
  // 250 ms of a counting ramp at 22.05 kHz: the header, not the requested 24 kHz, says the rate.
  const auto ramp = testsupport::counting_ramp(-300, 5512);
  serve([&](const httplib::Request&, httplib::Response& res) {
    res.set_content(synthesize_answer(ramp, 22050), "application/json; charset=UTF-8");
  });
  LogCapture logs;
  auto tts = make();
  ASSERT_TRUE(tts);
  TtsRecorder rec;
  auto result = tts->synthesize(request(), rec.sink());
  ASSERT_TRUE(result) << result.error().message;
  EXPECT_EQ(rec.samples, ramp) << "exactly the PCM: no header bytes, nothing lost";
  EXPECT_TRUE(rec.well_formed(22050));
  EXPECT_EQ(rec.chunks.size(), 3u) << "100 ms pieces";
  EXPECT_EQ(result->sample_rate_hz, 22050);
  EXPECT_EQ(result->samples, 5512);

  const auto req = log_.last();
  EXPECT_EQ(req.method, "POST");
  EXPECT_EQ(req.path, "/v1/text:synthesize");
  EXPECT_EQ(req.header("X-Goog-Api-Key"), kKey);
  EXPECT_EQ(req.query, "") << "the key is never in the URL";
  const json body = req.json();
  EXPECT_EQ(body["input"]["text"], "Welcome to the show.");
  EXPECT_EQ(body["voice"]["name"], "en-US-Neural2-D");
  EXPECT_EQ(body["voice"]["languageCode"], "en-US");
  EXPECT_EQ(body["audioConfig"]["audioEncoding"], "LINEAR16");
  EXPECT_EQ(body["audioConfig"]["sampleRateHertz"], 24000);
  EXPECT_DOUBLE_EQ(body["audioConfig"]["speakingRate"].get<double>(), 1.0);
  EXPECT_DOUBLE_EQ(body["audioConfig"]["pitch"].get<double>(), 0.0);
  EXPECT_EQ(logs.text().find(kKey), std::string::npos) << logs.text();
}

TEST_F(GoogleTtsTest, PersonaCadenceMapsToSpeakingRateAndSemitones) {
  serve([](const httplib::Request&, httplib::Response& res) {
    res.set_content(synthesize_answer(std::vector<int16_t>(2400, 3), 24000), "application/json");
  });
  auto tts = make();
  ASSERT_TRUE(tts);
  CadenceProfile orator;
  orator.rate_percent = 92;
  orator.pitch_percent = -2;
  orator.voices = {{"google", "en-GB-Neural2-B"}, {"azure", "en-US-GuyNeural"}};
  TtsRequest r = request();
  r.voice = voice_options_for(&orator, "google");
  TtsRecorder rec;
  ASSERT_TRUE(tts->synthesize(r, rec.sink()));
  const json body = log_.last().json();
  EXPECT_EQ(body["voice"]["name"], "en-GB-Neural2-B");
  EXPECT_EQ(body["voice"]["languageCode"], "en-GB");
  EXPECT_DOUBLE_EQ(body["audioConfig"]["speakingRate"].get<double>(), 0.92);
  EXPECT_NEAR(body["audioConfig"]["pitch"].get<double>(), 12.0 * std::log2(0.98), 0.01);
}

TEST_F(GoogleTtsTest, AzureOrOpenAiVoiceNamesAreRefused) {
  serve([](const httplib::Request&, httplib::Response& res) {
    res.set_content(synthesize_answer({1}, 24000), "application/json");
  });
  auto tts = make();
  ASSERT_TRUE(tts);
  for (const std::string voice : {"en-US-JennyNeural", "alloy"}) {
    TtsRequest r = request();
    r.voice.voice = voice;
    TtsRecorder rec;
    auto result = tts->synthesize(r, rec.sink());
    ASSERT_FALSE(result) << voice;
    EXPECT_EQ(result.error().kind, ProviderErrorKind::bad_input);
  }
  EXPECT_EQ(log_.count(), 0u);
  GoogleTtsParams bad;
  bad.api_key = kKey;
  bad.voice = "en-US-JennyNeural";
  auto created = GoogleTts::create(bad);
  ASSERT_FALSE(created);
  EXPECT_EQ(created.error().kind, ProviderErrorKind::config);
}

TEST_F(GoogleTtsTest, UnusableAudioContentIsAProtocolError) {
  audio::PcmBuffer clip;
  clip.sample_rate = 24000;
  clip.samples = std::vector<int16_t>(100, 5);
  auto wav = audio::encode_wav(clip);
  std::vector<uint8_t> truncated(wav.begin(), wav.begin() + 30); // header cut short
  std::vector<uint8_t> raw_pcm(400, 1);                          // no header at all
  const std::vector<std::string> answers = {
      json{{"audioContent", "!!!not base64!!!"}}.dump(),
      json{{"audioContent", "QUJD="}}.dump(), // a truncated quantum
      json{{"audioContent", base64(truncated)}}.dump(),
      json{{"audioContent", base64(raw_pcm)}}.dump(),
      json{{"audioContent", 12}}.dump(),
      json{{"somethingElse", "x"}}.dump(),
      "not json"};
  std::atomic<std::size_t> index{0};
  serve([&](const httplib::Request&, httplib::Response& res) {
    res.set_content(answers[index.load()], "application/json");
  });
  auto tts = make();
  ASSERT_TRUE(tts);
  for (std::size_t i = 0; i < answers.size(); ++i) {
    index = i;
    TtsRecorder rec;
    auto result = tts->synthesize(request(), rec.sink());
    ASSERT_FALSE(result) << answers[i];
    EXPECT_EQ(result.error().kind, ProviderErrorKind::protocol)
        << answers[i] << ": " << result.error().message;
    EXPECT_TRUE(rec.chunks.empty()) << answers[i];
  }
}

TEST_F(GoogleTtsTest, ErrorsAreTypedAndNeverCarryTheKey) {
  struct Case {
    int status;
    std::string body;
    ProviderErrorKind kind;
    std::string message;
  };
  const std::vector<Case> cases = {
      {400,
       google_error(400, "INVALID_ARGUMENT", "API key not valid. Please pass a valid API key.",
                    "API_KEY_INVALID"),
       ProviderErrorKind::auth, "API key not valid"},
      {403, google_error(403, "PERMISSION_DENIED", "Cloud Text-to-Speech API has not been used"),
       ProviderErrorKind::auth, "has not been used"},
      {429, google_error(429, "RESOURCE_EXHAUSTED", "Quota exceeded"),
       ProviderErrorKind::rate_limited, "Quota exceeded"},
      {400, google_error(400, "INVALID_ARGUMENT", std::string("Voice bad; key=") + kKey),
       ProviderErrorKind::http, "Voice bad"},
      {503, google_error(503, "UNAVAILABLE", "The service is currently unavailable"),
       ProviderErrorKind::http, "currently unavailable"}};
  std::atomic<std::size_t> index{0};
  serve([&](const httplib::Request&, httplib::Response& res) {
    const Case& c = cases[index.load()];
    res.status = c.status;
    if (c.status == 429) {
      res.set_header("Retry-After", "30");
    }
    res.set_content(c.body, "application/json; charset=UTF-8");
  });
  LogCapture logs;
  auto tts = make();
  ASSERT_TRUE(tts);
  for (std::size_t i = 0; i < cases.size(); ++i) {
    index = i;
    TtsRecorder rec;
    auto result = tts->synthesize(request(), rec.sink());
    ASSERT_FALSE(result) << i;
    EXPECT_EQ(result.error().kind, cases[i].kind) << i << ": " << result.error().message;
    EXPECT_EQ(result.error().http_status, cases[i].status);
    EXPECT_NE(result.error().message.find(cases[i].message), std::string::npos)
        << result.error().message;
    EXPECT_EQ(result.error().message.find(kKey), std::string::npos) << result.error().message;
    if (cases[i].status == 429) {
      ASSERT_TRUE(result.error().retry_after);
      EXPECT_EQ(*result.error().retry_after, 30000ms);
    }
  }
  EXPECT_EQ(logs.text().find(kKey), std::string::npos) << logs.text();
}

TEST_F(GoogleTtsTest, SlowAnswerIsATimeout) {
  serve([&](const httplib::Request&, httplib::Response& res) {
    release_.wait_for(kWait);
    res.set_content(synthesize_answer({1, 2}, 24000), "application/json");
  });
  auto tts = make();
  ASSERT_TRUE(tts);
  TtsRequest r = request();
  r.timeout = 300ms;
  TtsRecorder rec;
  const auto start = std::chrono::steady_clock::now();
  auto result = tts->synthesize(r, rec.sink());
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().kind, ProviderErrorKind::timeout) << result.error().message;
  EXPECT_LT(std::chrono::steady_clock::now() - start, kWait);
}

TEST_F(GoogleTtsTest, CancelWhileWaitingAndBetweenChunks) {
  Gate arrived;
  std::atomic<bool> stall{true};
  serve([&](const httplib::Request&, httplib::Response& res) {
    arrived.open();
    if (stall) {
      release_.wait_for(kWait);
    }
    res.set_content(synthesize_answer(std::vector<int16_t>(24000, 4), 24000), "application/json");
  });
  auto tts = make();
  ASSERT_TRUE(tts);
  {
    testing::CancelOnGate canceller(arrived);
    TtsRequest r = request();
    r.cancel = canceller.token();
    TtsRecorder rec;
    auto result = tts->synthesize(r, rec.sink());
    canceller.join();
    ASSERT_FALSE(result);
    EXPECT_EQ(result.error().kind, ProviderErrorKind::cancelled) << result.error().message;
    EXPECT_TRUE(rec.chunks.empty());
  }
  release_.open();
  stall = false;
  {
    CancelSource cancel;
    TtsRequest r = request();
    r.cancel = cancel.token();
    TtsRecorder rec;
    rec.after_chunk = [&](const TtsRecorder& recorder) {
      if (recorder.chunks.size() == 2) {
        cancel.cancel(); // e.g. barge-in while the sentence is being handed over
      }
    };
    auto result = tts->synthesize(r, rec.sink());
    ASSERT_FALSE(result);
    EXPECT_EQ(result.error().kind, ProviderErrorKind::cancelled);
    EXPECT_EQ(rec.chunks.size(), 2u) << "nothing after the cancellation";
  }
}

TEST_F(GoogleTtsTest, BuiltinRegistryMakesItFromSettings) {
  serve([](const httplib::Request&, httplib::Response& res) {
    res.set_content(synthesize_answer({10, 20, 30}, 16000), "application/json");
  });
  config::TtsSettings settings;
  settings.provider = "google";
  settings.google_base_url = server_.url("");
  settings.google_api_key = kKey;
  settings.google_voice = "en-US-Chirp3-HD-Achernar";
  auto registry = builtin_tts_registry();
  auto tts = registry.create("google", settings);
  ASSERT_TRUE(tts) << tts.error().message;
  EXPECT_EQ((*tts)->name(), "google");
  TtsRecorder rec;
  ASSERT_TRUE((*tts)->synthesize(request(), rec.sink()));
  EXPECT_EQ(rec.samples, (std::vector<int16_t>{10, 20, 30}));
  EXPECT_TRUE(rec.well_formed(16000));
  EXPECT_EQ(log_.last().json()["voice"]["name"], "en-US-Chirp3-HD-Achernar");

  settings.google_api_key.clear();
  auto missing_key = registry.create("google", settings);
  ASSERT_FALSE(missing_key);
  EXPECT_EQ(missing_key.error().kind, ProviderErrorKind::config);
}

} // namespace
} // namespace pv::cascade
