// The shared pieces of the HTTP providers: the worker -> caller hand-over (HttpStream), error
// mapping, PCM decoding across chunks, base64, URL joining and voice-name namespaces.

#include "cascade/http/http_stream.hpp"
#include "cascade/http/http_support.hpp"
#include "cascade/tts/tts_http.hpp"
#include "fake_api_server.hpp"

#include <thread>

namespace pv::cascade::http {
namespace {

using namespace std::chrono_literals;
using pv::test::LocalHttpServer;
using testing::kWait;

TEST(HttpSupport, JoinUrlHasExactlyOneSlash) {
  EXPECT_EQ(join_url("http://h:1/v1", "chat/completions"), "http://h:1/v1/chat/completions");
  EXPECT_EQ(join_url("http://h:1/v1/", "/chat/completions"), "http://h:1/v1/chat/completions");
  EXPECT_EQ(join_url("http://h:1", "v1/messages"), "http://h:1/v1/messages");
}

TEST(HttpSupport, BaseUrlChecks) {
  EXPECT_TRUE(check_base_url("https://api.openai.com/v1", "X"));
  EXPECT_TRUE(check_base_url("http://127.0.0.1:11434/v1", "X"));
  for (const char* bad :
       {"", "api.openai.com/v1", "ftp://h/v1", "ws://h/v1", "http://h/v1?key=1"}) {
    auto result = check_base_url(bad, "LLM_BASE_URL");
    ASSERT_FALSE(result) << bad;
    EXPECT_EQ(result.error().kind, ProviderErrorKind::config);
    EXPECT_NE(result.error().message.find("LLM_BASE_URL"), std::string::npos);
  }
}

TEST(HttpSupport, ErrorMessagesFromTheBodiesOfEachApi) {
  EXPECT_EQ(error_message_from_body(R"({"error":{"message":"bad key","type":"x"}})"), "bad key");
  EXPECT_EQ(error_message_from_body(
                R"({"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}})"),
            "Overloaded");
  EXPECT_EQ(error_message_from_body(R"({"error":"model not found"})"), "model not found");
  EXPECT_EQ(error_message_from_body(R"({"detail":"Not Found"})"), "Not Found");
  EXPECT_EQ(error_message_from_body("  plain\ntext  "), "plain text");
  EXPECT_EQ(error_message_from_body(""), "");
  const std::string long_body(1000, 'x');
  EXPECT_EQ(error_message_from_body(long_body, 50), std::string(50, 'x') + "...");
  // A cut never splits a UTF-8 sequence.
  const std::string accents = "\xC3\xA9\xC3\xA9\xC3\xA9";
  EXPECT_EQ(error_message_from_body(accents, 3), "\xC3\xA9...");
  EXPECT_EQ(error_type_from_body(R"({"error":{"type":"overloaded_error"}})"), "overloaded_error");
  EXPECT_EQ(error_type_from_body(R"({"error":{"code":429,"status":"RESOURCE_EXHAUSTED"}})"),
            "RESOURCE_EXHAUSTED");
  EXPECT_EQ(error_type_from_body("nope"), "");
}

TEST(HttpSupport, ScrubMasksTheKeyEverywhere) {
  const Secrets secrets = {"k3y-SECRET-value"};
  EXPECT_EQ(scrub("a k3y-SECRET-value b k3y-SECRET-value", secrets), "a **** b ****");
}

TEST(HttpSupport, HttpErrorsMapToProviderKinds) {
  net::HttpError e;
  e.kind = net::HttpErrorKind::http_status;
  e.status = 429;
  e.retry_after = 1500ms;
  e.body_snippet = R"({"error":{"message":"slow down"}})";
  auto mapped = to_provider_error(e, "x", {});
  EXPECT_EQ(mapped.kind, ProviderErrorKind::rate_limited);
  EXPECT_EQ(mapped.retry_after, 1500ms);
  EXPECT_EQ(mapped.message, "x: HTTP 429: slow down");
  e.status = 403;
  EXPECT_EQ(to_provider_error(e, "x", {}).kind, ProviderErrorKind::auth);
  e.status = 503;
  EXPECT_EQ(to_provider_error(e, "x", {}).kind, ProviderErrorKind::http);
  EXPECT_TRUE(to_provider_error(e, "x", {}).retryable);
  net::HttpError t;
  t.kind = net::HttpErrorKind::timeout;
  t.timeout = net::HttpTimeout::first_byte;
  EXPECT_EQ(to_provider_error(t, "x", {}).kind, ProviderErrorKind::first_token_timeout);
  t.timeout = net::HttpTimeout::connect;
  EXPECT_EQ(to_provider_error(t, "x", {}).kind, ProviderErrorKind::timeout);
  net::HttpError c;
  c.kind = net::HttpErrorKind::connect_failed;
  EXPECT_EQ(to_provider_error(c, "x", {}).kind, ProviderErrorKind::disconnected);
}

TEST(HttpSupport, ProviderHttpKeepsTheKeyAsASecretAndSendsABearerOnlyWhenSet) {
  auto with_key = make_provider_http("test", "sk-test-secret-1");
  ASSERT_TRUE(with_key);
  EXPECT_NE(with_key->client, nullptr);
  EXPECT_EQ(with_key->secrets, Secrets{"sk-test-secret-1"});
  auto without_key = make_provider_http("test", "");
  ASSERT_TRUE(without_key);
  EXPECT_TRUE(without_key->secrets.empty());

  net::HttpRequest request =
      post_request("http://h/x", {{"Content-Type", "application/json"}}, "{}", 1500ms);
  EXPECT_EQ(request.method, "POST");
  EXPECT_EQ(request.url, "http://h/x");
  EXPECT_EQ(request.body, "{}");
  EXPECT_EQ(request.timeouts.connect_ms, 1500);
  add_bearer(request, "");
  EXPECT_EQ(request.headers.size(), 1u);
  add_bearer(request, "k1");
  ASSERT_EQ(request.headers.size(), 2u);
  EXPECT_EQ(request.headers[1].name, "Authorization");
  EXPECT_EQ(request.headers[1].value, "Bearer k1");
}

TEST(HttpSupport, PcmDecoderRejoinsSamplesSplitAtAnyByte) {
  const std::vector<int16_t> samples = {0, 1, -1, 32767, -32768, 0x1234, -2};
  const std::string bytes = testing::pcm_bytes(samples);
  for (std::size_t split = 0; split <= bytes.size(); ++split) {
    for (std::size_t split2 = split; split2 <= bytes.size(); ++split2) {
      PcmDecoder decoder;
      std::vector<int16_t> out;
      for (auto piece : {std::string_view(bytes).substr(0, split),
                         std::string_view(bytes).substr(split, split2 - split),
                         std::string_view(bytes).substr(split2)}) {
        const auto got = decoder.decode(piece);
        out.insert(out.end(), got.begin(), got.end());
      }
      EXPECT_EQ(out, samples) << split << "/" << split2;
      EXPECT_FALSE(decoder.has_partial_sample());
    }
  }
  PcmDecoder odd;
  EXPECT_EQ(odd.decode(std::string("\x01\x02\x03", 3)).size(), 1u);
  EXPECT_TRUE(odd.has_partial_sample());
}

TEST(HttpSupport, Base64DecodesAndRejectsGarbage) {
  auto hello = decode_base64("aGVsbG8gd29ybGQ=");
  ASSERT_TRUE(hello);
  EXPECT_EQ(std::string(hello->begin(), hello->end()), "hello world");
  auto wrapped = decode_base64("aGVs\nbG8=");
  ASSERT_TRUE(wrapped);
  EXPECT_EQ(std::string(wrapped->begin(), wrapped->end()), "hello");
  auto empty = decode_base64("");
  ASSERT_TRUE(empty);
  EXPECT_TRUE(empty->empty());
  EXPECT_FALSE(decode_base64("not*base64!"));
  EXPECT_FALSE(decode_base64("aGVsbG8")) << "a truncated quantum";
}

TEST(HttpSupport, VoiceNameNamespaces) {
  for (const char* google : {"en-US-Neural2-D", "en-US-Wavenet-A", "en-GB-Standard-B",
                             "en-US-Chirp3-HD-Achernar", "cmn-CN-Wavenet-A"}) {
    EXPECT_TRUE(is_google_voice_name(google)) << google;
    EXPECT_FALSE(is_azure_voice_name(google)) << google;
    EXPECT_FALSE(is_plain_voice_name(google)) << google;
  }
  for (const char* azure : {"en-US-JennyNeural", "en-US-AvaMultilingualNeural",
                            "en-US-Ava:DragonHDLatestNeural", "zh-CN-shaanxi-XiaoniNeural"}) {
    EXPECT_TRUE(is_azure_voice_name(azure)) << azure;
    EXPECT_FALSE(is_google_voice_name(azure)) << azure;
    EXPECT_FALSE(is_plain_voice_name(azure)) << azure;
  }
  for (const char* plain : {"alloy", "onyx", "af_bella", "tts-voice.1"}) {
    EXPECT_TRUE(is_plain_voice_name(plain)) << plain;
    EXPECT_FALSE(is_google_voice_name(plain)) << plain;
    EXPECT_FALSE(is_azure_voice_name(plain)) << plain;
  }
  EXPECT_FALSE(is_azure_voice_name("en-US-Jenny'Neural")) << "no quotes in an XML attribute";
  EXPECT_FALSE(is_plain_voice_name(""));
  EXPECT_EQ(voice_locale("en-US-JennyNeural"), "en-US");
  EXPECT_EQ(voice_locale("de-DE-Neural2-B"), "de-DE");
}

// The hand-over buffer is bounded: a consumer that never keeps up gets a protocol error instead
// of unbounded memory.
TEST(HttpStream, BufferOverflowEndsTheCallWithAProtocolError) {
  LocalHttpServer server;
  server.http().Get("/big", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(std::string(64 * 1024, 'b'), "application/octet-stream");
  });
  server.start();
  auto http = make_provider_http("test", "");
  ASSERT_TRUE(http);
  net::HttpClient& client = *http->client;
  net::HttpRequest request;
  request.url = server.url("/big");
  HttpStreamParams params;
  params.max_buffered_bytes = 1000;
  HttpStream stream(client, request, params);
  // Do not drain: wait (bounded) until the HTTP worker has finished the call.
  for (int i = 0; i < 2000 && client.active_calls() > 0; ++i) {
    std::this_thread::sleep_for(5ms);
  }
  ASSERT_EQ(client.active_calls(), 0u);
  std::string bytes;
  auto first = stream.wait(bytes, Clock::now() + kWait, CancelToken{});
  // Whatever fit in the buffer is handed out first, then the failure.
  if (first == HttpStream::Wait::data) {
    EXPECT_LE(bytes.size(), 1000u);
    first = stream.wait(bytes, Clock::now() + kWait, CancelToken{});
  }
  ASSERT_EQ(first, HttpStream::Wait::finished);
  ASSERT_FALSE(stream.result());
  EXPECT_EQ(stream.result().error().kind, net::HttpErrorKind::protocol);
}

TEST(HttpStream, CancellationWinsOverPendingBytes) {
  LocalHttpServer server;
  server.http().Get("/small", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("some bytes", "text/plain");
  });
  server.start();
  auto http = make_provider_http("test", "");
  ASSERT_TRUE(http);
  net::HttpClient& client = *http->client;
  net::HttpRequest request;
  request.url = server.url("/small");
  HttpStream stream(client, request);
  for (int i = 0; i < 2000 && client.active_calls() > 0; ++i) {
    std::this_thread::sleep_for(5ms);
  }
  CancelSource cancel;
  cancel.cancel();
  std::string bytes;
  EXPECT_EQ(stream.wait(bytes, Clock::now() + kWait, cancel.token()), HttpStream::Wait::cancelled);
  EXPECT_TRUE(bytes.empty());
}

} // namespace
} // namespace pv::cascade::http
