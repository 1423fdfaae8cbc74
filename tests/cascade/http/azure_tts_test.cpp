// TTS_PROVIDER=azure against a local server speaking the Azure Speech REST TTS protocol (SSML in,
// raw PCM out, chunked).

#include "cascade/personas.hpp"
#include "cascade/tts/azure_tts.hpp"
#include "cascade/tts/tts_registry.hpp"
#include "fake_api_server.hpp"
#include "support/signal.hpp"

#include <atomic>
#include <thread>

namespace pv::cascade {
namespace {

using namespace std::chrono_literals;
using testing::kWait;
using testing::LogCapture;
using testing::pcm_bytes;
using testing::TtsRecorder;
using testing::write_text;

constexpr const char* kKey = "0123456789abcdef0123456789abcdef";

class AzureTtsTest : public testing::FakeApiTest {
protected:
  void serve(Handler handler) { serve_post("/cognitiveservices/v1", std::move(handler)); }
  // Answers like Azure: raw PCM in the format the request's X-Microsoft-OutputFormat names,
  // written in a few chunks.
  void serve_ramp(const std::vector<int16_t>& samples) {
    serve([samples](const httplib::Request&, httplib::Response& res) {
      const std::string bytes = pcm_bytes(samples);
      res.set_chunked_content_provider("audio/x-wav", [bytes](size_t, httplib::DataSink& sink) {
        const std::size_t third = bytes.size() / 3 + 1; // odd: splits a sample
        for (std::size_t pos = 0; pos < bytes.size(); pos += third) {
          write_text(sink, bytes.substr(pos, third));
          std::this_thread::sleep_for(2ms);
        }
        sink.done();
        return true;
      });
    });
  }
  std::unique_ptr<AzureTts> make(const std::string& format = "raw-24khz-16bit-mono-pcm") {
    AzureTtsParams params;
    params.base_url = server_.url("");
    params.api_key = kKey;
    params.voice = "en-US-JennyNeural";
    params.output_format = format;
    return testing::created(AzureTts::create(params));
  }
  static TtsRequest request(const std::string& text = "Good evening.") {
    return testing::tts_request(text);
  }
};

TEST_F(AzureTtsTest, Streams24kHzChunksTaggedWithTheirRateAndSendsTheRightRequest) {
  const auto ramp = testsupport::counting_ramp(7, 4800);
  serve_ramp(ramp);
  LogCapture logs;
  auto tts = make();
  ASSERT_TRUE(tts);
  TtsRecorder rec;
  auto result = tts->synthesize(request(), rec.sink());
  ASSERT_TRUE(result) << result.error().message;
  EXPECT_EQ(rec.samples, ramp);
  EXPECT_TRUE(rec.well_formed(24000));
  EXPECT_EQ(result->sample_rate_hz, 24000);

  const auto req = log_.last();
  EXPECT_EQ(req.method, "POST");
  EXPECT_EQ(req.path, "/cognitiveservices/v1");
  EXPECT_EQ(req.header("Ocp-Apim-Subscription-Key"), kKey);
  EXPECT_EQ(req.header("Content-Type"), "application/ssml+xml");
  EXPECT_EQ(req.header("X-Microsoft-OutputFormat"), "raw-24khz-16bit-mono-pcm");
  EXPECT_FALSE(req.header("User-Agent").empty()) << "Azure requires a User-Agent";
  EXPECT_EQ(req.body, "<speak version='1.0' xmlns='http://www.w3.org/2001/10/synthesis' "
                      "xml:lang='en-US'><voice name='en-US-JennyNeural'><prosody rate='+0%' "
                      "pitch='+0%'>Good evening.</prosody></voice></speak>");
  EXPECT_EQ(logs.text().find(kKey), std::string::npos) << logs.text();
}

TEST_F(AzureTtsTest, SixteenKilohertzOutputIsTaggedSixteenKilohertz) {
  const auto ramp = testsupport::counting_ramp(-20000, 1600);
  serve_ramp(ramp);
  auto tts = make("raw-16khz-16bit-mono-pcm");
  ASSERT_TRUE(tts);
  EXPECT_EQ(tts->sample_rate_hz(), 16000);
  TtsRecorder rec;
  auto result = tts->synthesize(request(), rec.sink());
  ASSERT_TRUE(result) << result.error().message;
  EXPECT_EQ(log_.last().header("X-Microsoft-OutputFormat"), "raw-16khz-16bit-mono-pcm");
  EXPECT_EQ(rec.samples, ramp);
  EXPECT_TRUE(rec.well_formed(16000)) << "16 kHz audio must never be taken for 48 kHz";
  EXPECT_EQ(result->sample_rate_hz, 16000);
}

TEST_F(AzureTtsTest, OutputFormatRates) {
  EXPECT_EQ(AzureTts::raw_format_rate("raw-8khz-16bit-mono-pcm"), 8000);
  EXPECT_EQ(AzureTts::raw_format_rate("raw-16khz-16bit-mono-pcm"), 16000);
  EXPECT_EQ(AzureTts::raw_format_rate("raw-22050hz-16bit-mono-pcm"), 22050);
  EXPECT_EQ(AzureTts::raw_format_rate("raw-24khz-16bit-mono-pcm"), 24000);
  EXPECT_EQ(AzureTts::raw_format_rate("raw-44100hz-16bit-mono-pcm"), 44100);
  EXPECT_EQ(AzureTts::raw_format_rate("raw-48khz-16bit-mono-pcm"), 48000);
  EXPECT_EQ(AzureTts::raw_format_rate("riff-24khz-16bit-mono-pcm"), 0) << "has a header";
  EXPECT_EQ(AzureTts::raw_format_rate("raw-24khz-8bit-mono-pcm"), 0);
  EXPECT_EQ(AzureTts::raw_format_rate("audio-24khz-48kbitrate-mono-mp3"), 0);
  EXPECT_EQ(AzureTts::raw_format_rate("raw-xkhz-16bit-mono-pcm"), 0);
  AzureTtsParams params;
  params.region = "westeurope";
  params.api_key = kKey;
  params.output_format = "riff-24khz-16bit-mono-pcm";
  auto created = AzureTts::create(params);
  ASSERT_FALSE(created);
  EXPECT_EQ(created.error().kind, ProviderErrorKind::config);
}

TEST_F(AzureTtsTest, SsmlEscapesTextAndMapsProsody) {
  serve_ramp({1, 2, 3});
  auto tts = make();
  ASSERT_TRUE(tts);
  TtsRequest r = request("Tom & Jerry say <hi> \"loud\" and 'soft'\x01!");
  r.voice.rate_percent = 92;
  r.voice.pitch_percent = -2;
  TtsRecorder rec;
  ASSERT_TRUE(tts->synthesize(r, rec.sink()));
  const std::string body = log_.last().body;
  EXPECT_NE(body.find("<prosody rate='-8%' pitch='-2%'>Tom &amp; Jerry say &lt;hi&gt; "
                      "&quot;loud&quot; and &apos;soft&apos; !</prosody>"),
            std::string::npos)
      << body;
  // The only markup is ours: 3 opening and 3 closing tags.
  EXPECT_EQ(std::count(body.begin(), body.end(), '<'), 6) << body;

  r.voice.rate_percent = 120;
  r.voice.pitch_percent = 10;
  ASSERT_TRUE(tts->synthesize(r, rec.sink()));
  EXPECT_NE(log_.last().body.find("<prosody rate='+20%' pitch='+10%'>"), std::string::npos);
  EXPECT_EQ(AzureTts::xml_escape("a<b&c>\"d'"), "a&lt;b&amp;c&gt;&quot;d&apos;");
}

TEST_F(AzureTtsTest, AGoogleVoiceNameNeverReachesAzure) {
  serve_ramp({1, 2, 3});
  auto tts = make();
  ASSERT_TRUE(tts);
  // The persona file names a voice per provider: Azure only ever gets its own.
  CadenceProfile orator;
  orator.rate_percent = 92;
  orator.pitch_percent = -2;
  orator.voices = {{"google", "en-US-Neural2-D"}, {"azure", "en-US-GuyNeural"}};
  TtsRequest r = request();
  r.voice = voice_options_for(&orator, "azure");
  TtsRecorder rec;
  ASSERT_TRUE(tts->synthesize(r, rec.sink()));
  EXPECT_NE(log_.last().body.find("<voice name='en-US-GuyNeural'>"), std::string::npos);

  // A Google name handed over anyway is refused before anything is sent.
  r.voice.voice = "en-US-Neural2-D";
  TtsRecorder refused_rec;
  auto refused = tts->synthesize(r, refused_rec.sink());
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().kind, ProviderErrorKind::bad_input);
  EXPECT_EQ(log_.count(), 1u);
  for (const std::string voice : {"en-US-Wavenet-A", "alloy", "en-US-Neural2-D"}) {
    AzureTtsParams params;
    params.region = "eastus";
    params.api_key = kKey;
    params.voice = voice;
    auto created = AzureTts::create(params);
    ASSERT_FALSE(created) << voice;
    EXPECT_EQ(created.error().kind, ProviderErrorKind::config);
  }
}

TEST_F(AzureTtsTest, ErrorsAreTyped) {
  std::atomic<int> status{401};
  serve([&](const httplib::Request&, httplib::Response& res) {
    res.status = status.load();
    if (res.status == 429) {
      res.set_header("Retry-After", "1");
    }
    // Azure usually answers errors with an empty body.
  });
  auto tts = make();
  ASSERT_TRUE(tts);
  const std::vector<std::pair<int, ProviderErrorKind>> cases = {
      {401, ProviderErrorKind::auth},
      {403, ProviderErrorKind::auth},
      {429, ProviderErrorKind::rate_limited},
      {400, ProviderErrorKind::http},
      {502, ProviderErrorKind::http}};
  for (const auto& [code, kind] : cases) {
    status = code;
    TtsRecorder rec;
    auto result = tts->synthesize(request(), rec.sink());
    ASSERT_FALSE(result) << code;
    EXPECT_EQ(result.error().kind, kind) << code << " " << result.error().message;
    EXPECT_EQ(result.error().http_status, code);
    EXPECT_EQ(result.error().retryable, code == 429 || code >= 500) << code;
    EXPECT_EQ(result.error().message.find(kKey), std::string::npos);
  }
}

TEST_F(AzureTtsTest, StallAndDisconnectMidStream) {
  std::atomic<bool> stall{true};
  serve([&](const httplib::Request&, httplib::Response& res) {
    res.set_chunked_content_provider("audio/x-wav", [&](size_t, httplib::DataSink& sink) {
      write_text(sink, pcm_bytes(std::vector<int16_t>(1200, 8)));
      if (stall) {
        release_.wait_for(kWait);
      }
      return false; // drops the connection mid-body
    });
  });
  auto tts = make();
  ASSERT_TRUE(tts);
  TtsRequest r = request();
  r.timeout = 400ms;
  TtsRecorder stalled;
  auto timed_out = tts->synthesize(r, stalled.sink());
  ASSERT_FALSE(timed_out);
  EXPECT_EQ(timed_out.error().kind, ProviderErrorKind::timeout) << timed_out.error().message;
  EXPECT_EQ(stalled.samples.size(), 1200u);

  stall = false;
  release_.open();
  TtsRecorder cut;
  auto disconnected = tts->synthesize(request(), cut.sink());
  ASSERT_FALSE(disconnected);
  EXPECT_EQ(disconnected.error().kind, ProviderErrorKind::disconnected)
      << disconnected.error().message;
  EXPECT_EQ(cut.samples.size(), 1200u);
}

TEST_F(AzureTtsTest, RegionBuildsTheOfficialUrlAndBadRegionsAreRefused) {
  AzureTtsParams params;
  params.api_key = kKey;
  params.region = "west europe/../x";
  auto bad = AzureTts::create(params);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().kind, ProviderErrorKind::config);
  params.region = "westeurope";
  auto good = AzureTts::create(params);
  ASSERT_TRUE(good) << good.error().message;
  params.api_key.clear();
  auto no_key = AzureTts::create(params);
  ASSERT_FALSE(no_key);
  EXPECT_EQ(no_key.error().kind, ProviderErrorKind::config);
}

TEST_F(AzureTtsTest, BuiltinRegistryMakesItFromSettings) {
  serve_ramp({4, 5, 6, 7});
  config::TtsSettings settings;
  settings.provider = "azure";
  settings.azure_base_url = server_.url("");
  settings.azure_key = kKey;
  settings.azure_voice = "de-DE-KatjaNeural";
  settings.azure_output_format = "raw-48khz-16bit-mono-pcm";
  auto registry = builtin_tts_registry();
  auto tts = registry.create("azure", settings);
  ASSERT_TRUE(tts) << tts.error().message;
  EXPECT_EQ((*tts)->name(), "azure");
  TtsRecorder rec;
  ASSERT_TRUE((*tts)->synthesize(request("Guten Abend."), rec.sink()));
  EXPECT_EQ(rec.samples, (std::vector<int16_t>{4, 5, 6, 7}));
  EXPECT_TRUE(rec.well_formed(48000));
  const auto req = log_.last();
  EXPECT_EQ(req.header("X-Microsoft-OutputFormat"), "raw-48khz-16bit-mono-pcm");
  EXPECT_NE(req.body.find("xml:lang='de-DE'><voice name='de-DE-KatjaNeural'>"), std::string::npos)
      << req.body;
}

} // namespace
} // namespace pv::cascade
