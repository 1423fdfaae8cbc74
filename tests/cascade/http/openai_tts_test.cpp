// TTS_PROVIDER=openai against a local server speaking /audio/speech (raw 24 kHz s16le PCM,
// chunked).

#include "audio/wav.hpp"
#include "cascade/tts/openai_tts.hpp"
#include "cascade/tts/tts_registry.hpp"
#include "fake_api_server.hpp"
#include "support/signal.hpp"

#include <atomic>
#include <thread>

namespace pv::cascade {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using pv::test::Gate;
using testing::kWait;
using testing::LogCapture;
using testing::pcm_bytes;
using testing::TtsRecorder;
using testing::write_text;

constexpr const char* kKey = "sk-tts-SECRET0123456789abcdefghij";

class OpenAiTtsTest : public testing::FakeApiTest {
protected:
  void serve(Handler handler) { serve_post("/v1/audio/speech", std::move(handler)); }
  std::unique_ptr<OpenAiTts> make(const std::string& key = "") {
    OpenAiTtsParams params;
    params.base_url = server_.url("/v1");
    params.api_key = key;
    params.model = "tts-test";
    params.voice = "alloy";
    return testing::created(OpenAiTts::create(params));
  }
  static TtsRequest request(const std::string& text = "Hello there.") {
    return testing::tts_request(text);
  }
};

TEST_F(OpenAiTtsTest, StreamsExactSamplesAcrossOddByteSplitsIncrementally) {
  const auto ramp = testsupport::counting_ramp(1000, 2400); // 100 ms at 24 kHz
  const std::string bytes = pcm_bytes(ramp);
  // Odd-sized writes: samples are split between network chunks.
  const std::vector<std::size_t> cuts = {1, 4, 1001, 1002, 2500, 2501, 3333, bytes.size()};
  Gate first_audio_reached_the_sink;
  std::atomic<bool> waited_ok{false};
  serve([&](const httplib::Request&, httplib::Response& res) {
    res.set_chunked_content_provider("audio/pcm", [&](size_t, httplib::DataSink& sink) {
      std::size_t pos = 0;
      for (std::size_t cut : cuts) {
        write_text(sink, bytes.substr(pos, cut - pos));
        pos = cut;
        if (pos == 1001) {
          // The rest is written only once the first samples were played: no buffering.
          waited_ok = first_audio_reached_the_sink.wait_for(kWait);
        }
        std::this_thread::sleep_for(2ms);
      }
      sink.done();
      return true;
    });
  });
  auto tts = make();
  ASSERT_TRUE(tts);
  TtsRecorder rec;
  rec.after_chunk = [&](const TtsRecorder& r) {
    if (r.samples.size() >= 500) {
      first_audio_reached_the_sink.open();
    }
  };
  TtsRequest r = request();
  r.voice.rate_percent = 110;
  r.voice.pitch_percent = 20; // OpenAI has no pitch control: ignored
  auto result = tts->synthesize(r, rec.sink());
  ASSERT_TRUE(result) << result.error().message;
  EXPECT_TRUE(waited_ok.load());
  EXPECT_EQ(rec.samples, ramp) << "every sample, in order, none invented";
  EXPECT_TRUE(rec.well_formed(24000));
  EXPECT_GE(rec.chunks.size(), 3u) << "delivered as it arrived, not in one piece";
  EXPECT_EQ(rec.chunks.back().samples, 0u) << "the end marker";
  EXPECT_EQ(result->sample_rate_hz, 24000);
  EXPECT_EQ(result->samples, 2400);
  EXPECT_EQ(result->chunks, static_cast<int>(rec.chunks.size()) - 1);

  const auto req = log_.last();
  EXPECT_EQ(req.path, "/v1/audio/speech");
  EXPECT_FALSE(req.has_header("Authorization"));
  const json body = req.json();
  EXPECT_EQ(body["model"], "tts-test");
  EXPECT_EQ(body["voice"], "alloy");
  EXPECT_EQ(body["input"], "Hello there.");
  EXPECT_EQ(body["response_format"], "pcm");
  EXPECT_DOUBLE_EQ(body["speed"].get<double>(), 1.1);
  EXPECT_FALSE(body.contains("pitch"));
}

TEST_F(OpenAiTtsTest, PersonaVoiceIsUsedAndForeignVoiceNamesAreRefused) {
  serve([](const httplib::Request&, httplib::Response& res) {
    res.set_content(pcm_bytes(std::vector<int16_t>(480, 7)), "audio/pcm");
  });
  LogCapture logs;
  auto tts = make(kKey);
  ASSERT_TRUE(tts);
  TtsRecorder rec;
  TtsRequest r = request();
  r.voice.voice = "onyx";
  ASSERT_TRUE(tts->synthesize(r, rec.sink()));
  EXPECT_EQ(log_.last().json()["voice"], "onyx");
  EXPECT_EQ(log_.last().header("Authorization"), std::string("Bearer ") + kKey);
  EXPECT_EQ(logs.text().find(kKey), std::string::npos);

  for (const std::string foreign : {"en-US-Neural2-D", "en-US-JennyNeural"}) {
    r.voice.voice = foreign;
    TtsRecorder none;
    auto refused = tts->synthesize(r, none.sink());
    ASSERT_FALSE(refused) << foreign;
    EXPECT_EQ(refused.error().kind, ProviderErrorKind::bad_input);
    EXPECT_TRUE(none.chunks.empty());
  }
  EXPECT_EQ(log_.count(), 1u) << "refused voices never reach the server";
}

TEST_F(OpenAiTtsTest, AWavBodyIsRefusedSoItsHeaderIsNeverPlayed) {
  audio::PcmBuffer clip;
  clip.sample_rate = 24000;
  clip.samples = testsupport::make_sine(24000, 440, 0.5, 2400);
  const auto wav = audio::encode_wav(clip);
  serve([&](const httplib::Request&, httplib::Response& res) {
    res.set_content(std::string(wav.begin(), wav.end()), "audio/wav");
  });
  auto tts = make();
  ASSERT_TRUE(tts);
  TtsRecorder rec;
  auto result = tts->synthesize(request(), rec.sink());
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().kind, ProviderErrorKind::protocol) << result.error().message;
  EXPECT_TRUE(rec.chunks.empty());
}

TEST_F(OpenAiTtsTest, ErrorsAreTypedAndNeverCarryTheKey) {
  std::atomic<int> status{401};
  serve([&](const httplib::Request&, httplib::Response& res) {
    res.status = status.load();
    if (res.status == 429) {
      res.set_header("Retry-After", "2");
    }
    res.set_content(json{{"error",
                          {{"message", std::string("problem with key ") + kKey},
                           {"type", "invalid_request_error"}}}}
                        .dump(),
                    "application/json");
  });
  LogCapture logs;
  auto tts = make(kKey);
  ASSERT_TRUE(tts);
  const std::vector<std::pair<int, ProviderErrorKind>> cases = {
      {401, ProviderErrorKind::auth},
      {429, ProviderErrorKind::rate_limited},
      {500, ProviderErrorKind::http},
      {404, ProviderErrorKind::http}};
  for (const auto& [code, kind] : cases) {
    status = code;
    TtsRecorder rec;
    auto result = tts->synthesize(request(), rec.sink());
    ASSERT_FALSE(result) << code;
    EXPECT_EQ(result.error().kind, kind) << code << " " << result.error().message;
    EXPECT_EQ(result.error().http_status, code);
    EXPECT_NE(result.error().message.find("problem with key"), std::string::npos);
    EXPECT_EQ(result.error().message.find(kKey), std::string::npos) << result.error().message;
    EXPECT_EQ(result.error().retry_after.has_value(), code == 429);
    EXPECT_TRUE(rec.chunks.empty());
  }
  EXPECT_EQ(logs.text().find(kKey), std::string::npos) << logs.text();
}

TEST_F(OpenAiTtsTest, CancelMidStreamStopsDeliveryAtOnce) {
  serve([&](const httplib::Request&, httplib::Response& res) {
    res.set_chunked_content_provider("audio/pcm", [&](size_t, httplib::DataSink& sink) {
      // Audio keeps coming every 10 ms until the client goes away.
      if (!write_text(sink, pcm_bytes(std::vector<int16_t>(240, 100)))) {
        return false;
      }
      return !release_.wait_for(10ms);
    });
  });
  auto tts = make();
  ASSERT_TRUE(tts);
  CancelSource cancel;
  TtsRequest r = request();
  r.cancel = cancel.token();
  TtsRecorder rec;
  std::size_t chunks_at_cancel = 0;
  std::optional<std::chrono::steady_clock::time_point> cancelled_at;
  rec.after_chunk = [&](const TtsRecorder& recorder) {
    if (!cancelled_at && recorder.samples.size() >= 480) {
      chunks_at_cancel = recorder.chunks.size();
      cancelled_at = std::chrono::steady_clock::now();
      std::thread([&cancel] { cancel.cancel(); }).join(); // from another thread
    }
  };
  auto result = tts->synthesize(r, rec.sink());
  const auto returned_at = std::chrono::steady_clock::now();
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().kind, ProviderErrorKind::cancelled) << result.error().message;
  ASSERT_TRUE(cancelled_at);
  EXPECT_EQ(rec.chunks.size(), chunks_at_cancel) << "no chunk after the cancellation";
  EXPECT_LT(returned_at - *cancelled_at, 2000ms);
}

TEST_F(OpenAiTtsTest, StallMidStreamHitsTheTimeoutWithTheAudioSoFarDelivered) {
  serve([&](const httplib::Request&, httplib::Response& res) {
    res.set_chunked_content_provider("audio/pcm", [&](size_t, httplib::DataSink& sink) {
      write_text(sink, pcm_bytes(std::vector<int16_t>(2400, 5)));
      release_.wait_for(kWait); // then nothing
      return false;
    });
  });
  auto tts = make();
  ASSERT_TRUE(tts);
  TtsRequest r = request();
  r.timeout = 400ms;
  TtsRecorder rec;
  const auto start = std::chrono::steady_clock::now();
  auto result = tts->synthesize(r, rec.sink());
  const auto elapsed = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().kind, ProviderErrorKind::timeout) << result.error().message;
  EXPECT_GE(elapsed, 400ms);
  EXPECT_LT(elapsed, kWait);
  EXPECT_EQ(rec.samples.size(), 2400u);
}

TEST_F(OpenAiTtsTest, DisconnectMidStreamIsTyped) {
  serve([&](const httplib::Request&, httplib::Response& res) {
    res.set_chunked_content_provider("audio/pcm", [&](size_t, httplib::DataSink& sink) {
      write_text(sink, pcm_bytes(std::vector<int16_t>(1000, 9)));
      return false;
    });
  });
  auto tts = make();
  ASSERT_TRUE(tts);
  TtsRecorder rec;
  auto result = tts->synthesize(request(), rec.sink());
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().kind, ProviderErrorKind::disconnected) << result.error().message;
  EXPECT_EQ(rec.samples.size(), 1000u);
  for (const auto& c : rec.chunks) {
    EXPECT_FALSE(c.last);
  }
}

TEST_F(OpenAiTtsTest, EmptyAudioAndJsonBodiesAreProtocolErrors) {
  std::atomic<int> mode{0};
  serve([&](const httplib::Request&, httplib::Response& res) {
    if (mode == 0) {
      res.set_content("", "audio/pcm");
    } else {
      res.set_content(R"({"error":{"message":"model is loading"}})", "application/json");
    }
  });
  auto tts = make();
  ASSERT_TRUE(tts);
  for (int m : {0, 1}) {
    mode = m;
    TtsRecorder rec;
    auto result = tts->synthesize(request(), rec.sink());
    ASSERT_FALSE(result) << m;
    EXPECT_EQ(result.error().kind, ProviderErrorKind::protocol) << result.error().message;
    EXPECT_TRUE(rec.chunks.empty());
  }
}

TEST_F(OpenAiTtsTest, BadRequestsFailBeforeSending) {
  serve(
      [](const httplib::Request&, httplib::Response& res) { res.set_content("xx", "audio/pcm"); });
  auto tts = make();
  ASSERT_TRUE(tts);
  TtsRecorder rec;
  auto empty = tts->synthesize(request("   "), rec.sink());
  ASSERT_FALSE(empty);
  EXPECT_EQ(empty.error().kind, ProviderErrorKind::bad_input);
  TtsRequest fast = request();
  fast.voice.rate_percent = 300;
  auto too_fast = tts->synthesize(fast, rec.sink());
  ASSERT_FALSE(too_fast);
  EXPECT_EQ(too_fast.error().kind, ProviderErrorKind::bad_input);
  EXPECT_EQ(log_.count(), 0u);
}

TEST_F(OpenAiTtsTest, BuiltinRegistryMakesItFromSettings) {
  serve([](const httplib::Request&, httplib::Response& res) {
    res.set_content(pcm_bytes({1, 2, 3, 4}), "audio/pcm");
  });
  config::TtsSettings settings;
  settings.provider = "openai";
  settings.openai_base_url = server_.url("/v1");
  settings.openai_model = "kokoro";
  settings.openai_voice = "af_bella";
  auto registry = builtin_tts_registry();
  auto tts = registry.create("openai", settings);
  ASSERT_TRUE(tts) << tts.error().message;
  EXPECT_EQ((*tts)->name(), "openai");
  TtsRecorder rec;
  auto result = (*tts)->synthesize(request(), rec.sink());
  ASSERT_TRUE(result) << result.error().message;
  EXPECT_EQ(rec.samples, (std::vector<int16_t>{1, 2, 3, 4}));
  EXPECT_EQ(log_.last().json()["voice"], "af_bella");
  EXPECT_EQ(log_.last().json()["model"], "kokoro");
}

} // namespace
} // namespace pv::cascade
