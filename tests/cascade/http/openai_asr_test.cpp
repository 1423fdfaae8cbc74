// ASR_PROVIDER=openai against a local server speaking the /audio/transcriptions wire format
// (multipart/form-data upload, JSON answer).

#include "audio/wav.hpp"
#include "cascade/asr/asr_registry.hpp"
#include "cascade/asr/openai_asr.hpp"
#include "fake_api_server.hpp"
#include "support/signal.hpp"

#include <thread>

namespace pv::cascade {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using pv::test::Gate;
using testing::CancelOnGate;
using testing::kWait;
using testing::LogCapture;
using testing::write_text;

constexpr const char* kKey = "sk-asr-SECRET0123456789abcdefghij";

class OpenAiAsrTest : public testing::FakeApiTest {
protected:
  void serve(Handler handler) { serve_post("/v1/audio/transcriptions", std::move(handler)); }
  void answer_text(const std::string& text) {
    serve([text](const httplib::Request&, httplib::Response& res) {
      res.set_content(json{{"text", text}}.dump(), "application/json");
    });
  }

  std::unique_ptr<OpenAiAsr> make(const std::string& key = "") {
    OpenAiAsrParams params;
    params.base_url = server_.url("/v1");
    params.api_key = key;
    params.model = "whisper-test";
    return testing::created(OpenAiAsr::create(params));
  }

  // Runs one utterance: pushes `pcm` in 20 ms pieces, then finish().
  static tl::expected<Transcript, ProviderError>
  transcribe(AsrProvider& asr, const std::vector<int16_t>& pcm, AsrUtteranceParams params = {}) {
    auto session = asr.start_utterance(params);
    if (!session) {
      return tl::unexpected(session.error());
    }
    const std::size_t step = static_cast<std::size_t>(params.sample_rate_hz) / 50;
    for (std::size_t pos = 0; pos < pcm.size(); pos += step) {
      const std::size_t n = std::min(step, pcm.size() - pos);
      if (auto pushed = (*session)->push(std::span<const int16_t>(pcm.data() + pos, n)); !pushed) {
        return tl::unexpected(pushed.error());
      }
    }
    return (*session)->finish();
  }
};

TEST_F(OpenAiAsrTest, UploadsTheExactAudioAsWavMultipartAndReturnsTheText) {
  answer_text(" Hello, world. ");
  auto asr = make();
  ASSERT_TRUE(asr);
  EXPECT_FALSE(asr->capabilities().streaming) << "the transcription API is batch only";
  const auto pcm = testsupport::counting_ramp(-5000, 16000 + 123); // 1.0077 s, every value known
  AsrUtteranceParams params;
  params.language = "en";
  auto transcript = transcribe(*asr, pcm, params);
  ASSERT_TRUE(transcript) << transcript.error().message;
  EXPECT_EQ(transcript->text, "Hello, world.");
  EXPECT_EQ(transcript->audio_ms, 1007);
  EXPECT_GT(transcript->finish_ms, 0.0);

  ASSERT_EQ(log_.count(), 1u);
  const auto req = log_.last();
  EXPECT_EQ(req.method, "POST");
  EXPECT_EQ(req.path, "/v1/audio/transcriptions");
  EXPECT_NE(req.header("Content-Type").find("multipart/form-data; boundary="), std::string::npos);
  EXPECT_FALSE(req.has_header("Authorization")) << "no key configured: no Authorization header";
  ASSERT_EQ(req.files.count("file"), 1u);
  const auto& file = req.files.find("file")->second;
  EXPECT_EQ(file.filename, "utterance.wav");
  EXPECT_EQ(file.content_type, "audio/wav");
  auto wav = audio::parse_wav(std::span<const uint8_t>(
      reinterpret_cast<const uint8_t*>(file.content.data()), file.content.size()));
  ASSERT_TRUE(wav) << wav.error().message;
  EXPECT_EQ(wav->sample_rate, 16000);
  EXPECT_EQ(wav->samples, pcm) << "every sample arrives, in order, unchanged";
  ASSERT_EQ(req.files.count("model"), 1u);
  EXPECT_EQ(req.files.find("model")->second.content, "whisper-test");
  ASSERT_EQ(req.files.count("response_format"), 1u);
  EXPECT_EQ(req.files.find("response_format")->second.content, "json");
  ASSERT_EQ(req.files.count("language"), 1u);
  EXPECT_EQ(req.files.find("language")->second.content, "en");
}

TEST_F(OpenAiAsrTest, NoLanguageHintWhenNoneIsGivenAndOtherRatesAreDeclaredInTheWav) {
  answer_text("bonjour");
  auto asr = make();
  ASSERT_TRUE(asr);
  AsrUtteranceParams params;
  params.language = "";
  params.sample_rate_hz = 24000;
  const auto pcm = testsupport::make_sine(24000, 440.0, 0.3, 4800);
  auto transcript = transcribe(*asr, pcm, params);
  ASSERT_TRUE(transcript) << transcript.error().message;
  EXPECT_EQ(transcript->text, "bonjour");
  const auto req = log_.last();
  EXPECT_EQ(req.files.count("language"), 0u);
  const auto& file = req.files.find("file")->second;
  auto wav = audio::parse_wav(std::span<const uint8_t>(
      reinterpret_cast<const uint8_t*>(file.content.data()), file.content.size()));
  ASSERT_TRUE(wav);
  EXPECT_EQ(wav->sample_rate, 24000);
  EXPECT_EQ(wav->samples, pcm);
}

TEST_F(OpenAiAsrTest, SendsTheKeyAsBearerAndNeverLogsIt) {
  answer_text("ok");
  LogCapture logs;
  auto asr = make(kKey);
  ASSERT_TRUE(asr);
  auto transcript = transcribe(*asr, testsupport::make_sine(16000, 300.0, 0.2, 3200));
  ASSERT_TRUE(transcript) << transcript.error().message;
  EXPECT_EQ(log_.last().header("Authorization"), std::string("Bearer ") + kKey);
  EXPECT_EQ(logs.text().find(kKey), std::string::npos) << logs.text();
}

TEST_F(OpenAiAsrTest, RejectedKeyIsAuthWithoutTheKey) {
  serve([](const httplib::Request&, httplib::Response& res) {
    res.status = 401;
    res.set_content(json{{"error",
                          {{"message", std::string("Incorrect API key provided: ") + kKey},
                           {"type", "invalid_request_error"},
                           {"code", "invalid_api_key"}}}}
                        .dump(),
                    "application/json");
  });
  LogCapture logs;
  auto asr = make(kKey);
  ASSERT_TRUE(asr);
  auto transcript = transcribe(*asr, testsupport::make_sine(16000, 300.0, 0.2, 3200));
  ASSERT_FALSE(transcript);
  EXPECT_EQ(transcript.error().kind, ProviderErrorKind::auth);
  EXPECT_EQ(transcript.error().message.find(kKey), std::string::npos) << transcript.error().message;
  EXPECT_EQ(logs.text().find(kKey), std::string::npos);
}

TEST_F(OpenAiAsrTest, EmptyUtteranceNeedsNoRequest) {
  answer_text("should not be asked");
  auto asr = make();
  ASSERT_TRUE(asr);
  auto transcript = transcribe(*asr, {});
  ASSERT_TRUE(transcript) << transcript.error().message;
  EXPECT_EQ(transcript->text, "");
  EXPECT_EQ(log_.count(), 0u);
}

TEST_F(OpenAiAsrTest, TooMuchAudioIsBadInputAndSessionsAreSingleUse) {
  answer_text("x");
  auto asr = make();
  ASSERT_TRUE(asr);
  AsrUtteranceParams params;
  params.max_audio_ms = 100;
  auto session = asr->start_utterance(params);
  ASSERT_TRUE(session);
  std::vector<int16_t> pcm(1600, 1); // exactly 100 ms
  EXPECT_TRUE((*session)->push(pcm));
  auto over = (*session)->push(std::vector<int16_t>(1, 1));
  ASSERT_FALSE(over);
  EXPECT_EQ(over.error().kind, ProviderErrorKind::bad_input);
  auto transcript = (*session)->finish();
  ASSERT_TRUE(transcript) << transcript.error().message;
  EXPECT_EQ(transcript->audio_ms, 100);
  EXPECT_FALSE((*session)->push(pcm));
  auto again = (*session)->finish();
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().kind, ProviderErrorKind::bad_input);

  AsrUtteranceParams bad_rate;
  bad_rate.sample_rate_hz = 4000;
  auto refused = asr->start_utterance(bad_rate);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().kind, ProviderErrorKind::bad_input);
}

TEST_F(OpenAiAsrTest, SlowServerIsATimeout) {
  serve([&](const httplib::Request&, httplib::Response& res) {
    release_.wait_for(kWait);
    res.set_content(R"({"text":"late"})", "application/json");
  });
  auto asr = make();
  ASSERT_TRUE(asr);
  AsrUtteranceParams params;
  params.timeout = 300ms;
  const auto start = std::chrono::steady_clock::now();
  auto transcript = transcribe(*asr, testsupport::make_sine(16000, 300.0, 0.2, 3200), params);
  const auto elapsed = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(transcript);
  EXPECT_EQ(transcript.error().kind, ProviderErrorKind::timeout) << transcript.error().message;
  EXPECT_GE(elapsed, 300ms);
  EXPECT_LT(elapsed, kWait);
}

TEST_F(OpenAiAsrTest, CancelFromAnotherThreadDuringFinish) {
  Gate request_arrived;
  serve([&](const httplib::Request&, httplib::Response& res) {
    request_arrived.open();
    release_.wait_for(kWait);
    res.set_content(R"({"text":"late"})", "application/json");
  });
  auto asr = make();
  ASSERT_TRUE(asr);
  CancelOnGate canceller(request_arrived);
  AsrUtteranceParams params;
  params.cancel = canceller.token();
  auto transcript = transcribe(*asr, testsupport::make_sine(16000, 300.0, 0.2, 3200), params);
  const auto returned_at = std::chrono::steady_clock::now();
  const auto cancelled_at = canceller.join();
  ASSERT_FALSE(transcript);
  EXPECT_EQ(transcript.error().kind, ProviderErrorKind::cancelled) << transcript.error().message;
  ASSERT_TRUE(cancelled_at);
  EXPECT_LT(returned_at - *cancelled_at, 2000ms);
}

TEST_F(OpenAiAsrTest, CancelledBeforePushIsReported) {
  answer_text("x");
  auto asr = make();
  ASSERT_TRUE(asr);
  CancelSource cancel;
  AsrUtteranceParams params;
  params.cancel = cancel.token();
  auto session = asr->start_utterance(params);
  ASSERT_TRUE(session);
  cancel.cancel();
  auto pushed = (*session)->push(std::vector<int16_t>(320, 0));
  ASSERT_FALSE(pushed);
  EXPECT_EQ(pushed.error().kind, ProviderErrorKind::cancelled);
  EXPECT_EQ(log_.count(), 0u);
}

TEST_F(OpenAiAsrTest, RateLimitAndServerErrorsAreTyped) {
  std::atomic<int> status{429};
  serve([&](const httplib::Request&, httplib::Response& res) {
    res.status = status.load();
    if (res.status == 429) {
      res.set_header("Retry-After", "3");
      res.set_content(R"({"error":{"message":"Rate limit reached","type":"requests"}})",
                      "application/json");
    } else {
      res.set_content(R"({"detail":"CUDA out of memory"})", "application/json");
    }
  });
  auto asr = make();
  ASSERT_TRUE(asr);
  const auto pcm = testsupport::make_sine(16000, 300.0, 0.2, 3200);
  auto limited = transcribe(*asr, pcm);
  ASSERT_FALSE(limited);
  EXPECT_EQ(limited.error().kind, ProviderErrorKind::rate_limited);
  ASSERT_TRUE(limited.error().retry_after);
  EXPECT_EQ(*limited.error().retry_after, 3000ms);
  status = 500;
  auto failed = transcribe(*asr, pcm);
  ASSERT_FALSE(failed);
  EXPECT_EQ(failed.error().kind, ProviderErrorKind::http);
  EXPECT_EQ(failed.error().http_status, 500);
  EXPECT_NE(failed.error().message.find("CUDA out of memory"), std::string::npos)
      << failed.error().message;
}

TEST_F(OpenAiAsrTest, AnswerWithoutTextIsAProtocolError) {
  serve([](const httplib::Request&, httplib::Response& res) {
    res.set_content(R"({"transcript":"wrong field"})", "application/json");
  });
  auto asr = make();
  ASSERT_TRUE(asr);
  auto transcript = transcribe(*asr, testsupport::make_sine(16000, 300.0, 0.2, 3200));
  ASSERT_FALSE(transcript);
  EXPECT_EQ(transcript.error().kind, ProviderErrorKind::protocol) << transcript.error().message;
}

TEST_F(OpenAiAsrTest, DisconnectIsTyped) {
  serve([](const httplib::Request&, httplib::Response& res) {
    res.set_chunked_content_provider("application/json", [](size_t, httplib::DataSink& sink) {
      write_text(sink, R"({"text": "par)");
      return false;
    });
  });
  auto asr = make();
  ASSERT_TRUE(asr);
  auto transcript = transcribe(*asr, testsupport::make_sine(16000, 300.0, 0.2, 3200));
  ASSERT_FALSE(transcript);
  EXPECT_EQ(transcript.error().kind, ProviderErrorKind::disconnected) << transcript.error().message;
}

TEST_F(OpenAiAsrTest, BuiltinRegistryMakesItFromSettings) {
  answer_text("from the registry");
  config::AsrSettings settings;
  settings.provider = "openai";
  settings.base_url = server_.url("/v1");
  settings.model = "Systran/faster-whisper-small";
  auto registry = builtin_asr_registry();
  auto asr = registry.create("openai", settings);
  ASSERT_TRUE(asr) << asr.error().message;
  EXPECT_EQ((*asr)->name(), "openai");
  auto transcript = transcribe(**asr, testsupport::make_sine(16000, 300.0, 0.2, 3200));
  ASSERT_TRUE(transcript) << transcript.error().message;
  EXPECT_EQ(transcript->text, "from the registry");
  EXPECT_EQ(log_.last().files.find("model")->second.content, "Systran/faster-whisper-small");
}

#ifndef NDEBUG
TEST(OpenAiAsrDeathTest, SessionUseFromASecondThreadAborts) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(
      {
        OpenAiAsrParams params;
        params.base_url = "http://127.0.0.1:9/v1";
        auto asr = OpenAiAsr::create(params);
        auto session = (*asr)->start_utterance({});
        std::vector<int16_t> pcm(320, 0);
        (void)(*session)->push(pcm); // binds to this thread
        std::thread other([&] { (void)(*session)->push(pcm); });
        other.join();
      },
      "thread-ownership violation");
}
#endif

TEST_F(OpenAiAsrTest, SessionsOutliveTheirProvider) {
  answer_text("still here");
  auto asr = make();
  ASSERT_TRUE(asr);
  auto session = asr->start_utterance({});
  ASSERT_TRUE(session);
  asr.reset();
  ASSERT_TRUE((*session)->push(testsupport::make_sine(16000, 300.0, 0.2, 3200)));
  auto transcript = (*session)->finish();
  ASSERT_TRUE(transcript) << transcript.error().message;
  EXPECT_EQ(transcript->text, "still here");
}

} // namespace
} // namespace pv::cascade
