// MODEL_PROVIDER=openai against a local server speaking the Chat Completions SSE wire format.

#include "cascade/llm/llm_registry.hpp"
#include "cascade/llm/openai_llm.hpp"
#include "fake_api_server.hpp"

#include <array>
#include <atomic>
#include <thread>

namespace pv::cascade {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using pv::test::Gate;
using pv::test::LocalHttpServer;
using testing::CancelOnGate;
using testing::kWait;
using testing::llm_request;
using testing::LogCapture;
using testing::sse;
using testing::wait_gate;
using testing::write_text;

constexpr const char* kKey = "sk-test-SECRET0123456789abcdefXYZ";

// One streamed chunk exactly as api.openai.com frames it.
std::string chunk(const json& delta, const json& finish_reason = nullptr) {
  return sse(json{{"id", "chatcmpl-9xTest"},
                  {"object", "chat.completion.chunk"},
                  {"created", 1718000000},
                  {"model", "test-model"},
                  {"system_fingerprint", "fp_test"},
                  {"choices", json::array({{{"index", 0},
                                            {"delta", delta},
                                            {"logprobs", nullptr},
                                            {"finish_reason", finish_reason}}})}}
                 .dump());
}
std::string token(const std::string& text) {
  return chunk({{"content", text}});
}
std::string role_chunk() {
  return chunk({{"role", "assistant"}, {"content", ""}, {"refusal", nullptr}});
}
std::string stop_chunk(const std::string& reason = "stop") {
  return chunk(json::object(), reason);
}
const std::string kDone = "data: [DONE]\n\n";
constexpr const char* kEventStream = "text/event-stream; charset=utf-8";

// Collects what the sink receives (the sink runs on the generate() caller's thread).
struct Pieces {
  std::vector<std::string> list;
  std::string joined() const {
    std::string out;
    for (const auto& p : list) {
      out += p;
    }
    return out;
  }
};

class OpenAiLlmTest : public testing::FakeApiTest {
protected:
  void serve(Handler handler) { serve_post("/v1/chat/completions", std::move(handler)); }

  std::unique_ptr<OpenAiLlm> make(const std::string& key = "",
                                  std::chrono::milliseconds idle = 5000ms) {
    OpenAiLlmParams params;
    params.base_url = server_.url("/v1");
    params.api_key = key;
    params.model = "test-model";
    params.idle_timeout = idle;
    return testing::created(OpenAiLlm::create(params));
  }

  // One generate() of llm_request() on a provider from make(key, idle), into `pieces`.
  tl::expected<LlmResult, ProviderError> generate(Pieces& pieces, const std::string& key = "",
                                                  std::chrono::milliseconds idle = 5000ms) {
    auto llm = make(key, idle);
    if (!llm) {
      return tl::unexpected(make_error(ProviderErrorKind::internal, "no provider"));
    }
    return llm->generate(llm_request(), collect(pieces));
  }

  static TokenSink collect(Pieces& pieces) {
    return [&pieces](std::string_view piece) {
      pieces.list.emplace_back(piece);
      return true;
    };
  }
};

TEST_F(OpenAiLlmTest, StreamsTokensIncrementallyInOrderAndSendsTheRightRequest) {
  const std::vector<std::string> tokens = {"Why", " did", " the", " chicken"};
  std::array<Gate, 4> delivered; // opened by the sink: token i reached the caller
  std::atomic<int> server_waits_ok{0};
  serve([&](const httplib::Request&, httplib::Response& res) {
    res.set_chunked_content_provider(kEventStream, [&](size_t, httplib::DataSink& sink) {
      write_text(sink, role_chunk());
      write_text(sink, ": keep-alive\n\n");
      for (std::size_t i = 0; i < tokens.size(); ++i) {
        write_text(sink, token(tokens[i]));
        // The next token is written only once this one has reached the sink: a client that
        // buffered the response would never get there.
        if (wait_gate(delivered[i])) {
          ++server_waits_ok;
        }
      }
      write_text(sink, stop_chunk());
      write_text(sink, kDone);
      sink.done();
      return true;
    });
  });
  auto llm = make();
  ASSERT_TRUE(llm);
  Pieces pieces;
  auto result = llm->generate(llm_request(), [&](std::string_view piece) {
    pieces.list.emplace_back(piece);
    delivered[pieces.list.size() - 1].open();
    return true;
  });
  ASSERT_TRUE(result) << result.error().message;
  EXPECT_EQ(pieces.list, tokens);
  EXPECT_EQ(server_waits_ok.load(), 4);
  EXPECT_EQ(result->text, "Why did the chicken");
  EXPECT_EQ(result->pieces, 4);
  EXPECT_EQ(result->finish, FinishReason::complete);
  EXPECT_GT(result->first_token_ms, 0.0);
  EXPECT_GE(result->total_ms, result->first_token_ms);

  ASSERT_EQ(log_.count(), 1u);
  const auto req = log_.last();
  EXPECT_EQ(req.method, "POST");
  EXPECT_EQ(req.path, "/v1/chat/completions");
  EXPECT_NE(req.header("Content-Type").find("application/json"), std::string::npos);
  EXPECT_FALSE(req.has_header("Authorization")) << "no key configured: no Authorization header";
  const json body = req.json();
  ASSERT_FALSE(body.is_discarded()) << req.body;
  EXPECT_EQ(body["model"], "test-model");
  EXPECT_EQ(body["stream"], true);
  EXPECT_EQ(body["max_tokens"], 64);
  const json expected_messages =
      json::array({{{"role", "system"}, {"content", "You are a co-host."}},
                   {{"role", "user"}, {"content", "Hi there"}},
                   {{"role", "assistant"}, {"content", "Hello!"}},
                   {{"role", "user"}, {"content", "Tell me a joke"}}});
  EXPECT_EQ(body["messages"], expected_messages);
}

TEST_F(OpenAiLlmTest, SendsTheKeyAsBearerWhenConfiguredAndNeverLogsIt) {
  serve([](const httplib::Request& req, httplib::Response& res) {
    if (req.get_header_value("Authorization") != std::string("Bearer ") + kKey) {
      res.status = 401;
      res.set_content(R"({"error":{"message":"Missing key","type":"invalid_request_error"}})",
                      "application/json");
      return;
    }
    res.set_content(token("ok") + stop_chunk() + kDone, kEventStream);
  });
  LogCapture logs;
  Pieces pieces;
  auto result = generate(pieces, kKey);
  ASSERT_TRUE(result) << result.error().message;
  EXPECT_EQ(result->text, "ok");
  EXPECT_EQ(log_.last().header("Authorization"), std::string("Bearer ") + kKey);
  EXPECT_EQ(logs.text().find(kKey), std::string::npos) << logs.text();
}

TEST_F(OpenAiLlmTest, RejectedKeyIsAnAuthErrorThatNeverContainsTheKey) {
  serve([](const httplib::Request&, httplib::Response& res) {
    res.status = 401;
    // Servers echo what they were given; the message must not carry it onwards.
    res.set_content(json{{"error",
                          {{"message", std::string("Incorrect API key provided: ") + kKey + "."},
                           {"type", "invalid_request_error"},
                           {"param", nullptr},
                           {"code", "invalid_api_key"}}}}
                        .dump(),
                    "application/json; charset=utf-8");
  });
  LogCapture logs;
  Pieces pieces;
  auto result = generate(pieces, kKey);
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().kind, ProviderErrorKind::auth) << result.error().message;
  EXPECT_EQ(result.error().http_status, 401);
  EXPECT_NE(result.error().message.find("Incorrect API key provided"), std::string::npos)
      << result.error().message;
  EXPECT_EQ(result.error().message.find(kKey), std::string::npos) << result.error().message;
  EXPECT_EQ(logs.text().find(kKey), std::string::npos) << logs.text();
  EXPECT_TRUE(pieces.list.empty());
}

TEST_F(OpenAiLlmTest, FinishReasonLengthMeansMaxTokens) {
  serve([](const httplib::Request&, httplib::Response& res) {
    res.set_content(role_chunk() + token("a b c") + stop_chunk("length") + kDone, kEventStream);
  });
  Pieces pieces;
  auto result = generate(pieces);
  ASSERT_TRUE(result) << result.error().message;
  EXPECT_EQ(result->finish, FinishReason::max_tokens);
  EXPECT_EQ(result->text, "a b c");
}

TEST_F(OpenAiLlmTest, PiecesKeepTheirOwnWhitespaceAndUtf8SplitAcrossWrites) {
  // "café" with the two bytes of "é" in different TCP writes, and events split mid-line.
  const std::string event = token(" caf\xC3\xA9 \n ok");
  const std::size_t cut = event.find("\xC3") + 1;
  serve([&](const httplib::Request&, httplib::Response& res) {
    res.set_chunked_content_provider(kEventStream, [&](size_t, httplib::DataSink& sink) {
      write_text(sink, role_chunk());
      write_text(sink, event.substr(0, cut));
      std::this_thread::sleep_for(20ms);
      write_text(sink, event.substr(cut));
      write_text(sink, token("  "));
      write_text(sink, stop_chunk() + kDone);
      sink.done();
      return true;
    });
  });
  Pieces pieces;
  auto result = generate(pieces);
  ASSERT_TRUE(result) << result.error().message;
  EXPECT_EQ(pieces.list, (std::vector<std::string>{" caf\xC3\xA9 \n ok", "  "}));
  EXPECT_EQ(result->text, " caf\xC3\xA9 \n ok  ");
}

TEST_F(OpenAiLlmTest, SlowFirstTokenIsAFirstTokenTimeoutEvenWithKeepAlives) {
  serve([&](const httplib::Request&, httplib::Response& res) {
    res.set_chunked_content_provider(kEventStream, [&](size_t, httplib::DataSink& sink) {
      write_text(sink, role_chunk());
      // Keep-alive comments are not tokens.
      while (!release_.wait_for(50ms)) {
        if (!write_text(sink, ": keep-alive\n\n")) {
          return false;
        }
      }
      return false;
    });
  });
  auto llm = make();
  ASSERT_TRUE(llm);
  LlmRequest r = llm_request();
  r.first_token_timeout = 300ms;
  Pieces pieces;
  const auto start = std::chrono::steady_clock::now();
  auto result = llm->generate(r, collect(pieces));
  const auto elapsed = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().kind, ProviderErrorKind::first_token_timeout) << result.error().message;
  EXPECT_TRUE(result.error().retryable);
  EXPECT_GE(elapsed, 300ms);
  EXPECT_LT(elapsed, kWait);
  EXPECT_TRUE(pieces.list.empty());
}

TEST_F(OpenAiLlmTest, HeadersThatNeverComeAreAFirstTokenTimeout) {
  serve([&](const httplib::Request&, httplib::Response& res) {
    release_.wait_for(kWait); // no status line at all
    res.set_content(kDone, kEventStream);
  });
  auto llm = make();
  ASSERT_TRUE(llm);
  LlmRequest r = llm_request();
  r.first_token_timeout = 300ms;
  Pieces pieces;
  auto result = llm->generate(r, collect(pieces));
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().kind, ProviderErrorKind::first_token_timeout) << result.error().message;
}

TEST_F(OpenAiLlmTest, StallMidStreamIsAnIdleTimeoutAfterTheTokensSoFar) {
  serve([&](const httplib::Request&, httplib::Response& res) {
    res.set_chunked_content_provider(kEventStream, [&](size_t, httplib::DataSink& sink) {
      write_text(sink, role_chunk() + token("Hello") + token(" there"));
      while (!release_.wait_for(50ms)) { // then only keep-alives
        if (!write_text(sink, ": ping\n\n")) {
          return false;
        }
      }
      return false;
    });
  });
  auto llm = make("", 300ms);
  ASSERT_TRUE(llm);
  Pieces pieces;
  const auto start = std::chrono::steady_clock::now();
  auto result = llm->generate(llm_request(), collect(pieces));
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().kind, ProviderErrorKind::timeout) << result.error().message;
  EXPECT_NE(result.error().message.find("stalled"), std::string::npos) << result.error().message;
  EXPECT_LT(std::chrono::steady_clock::now() - start, kWait);
  EXPECT_EQ(pieces.list, (std::vector<std::string>{"Hello", " there"}));
}

TEST_F(OpenAiLlmTest, TotalTimeoutWhileTokensKeepFlowing) {
  serve([&](const httplib::Request&, httplib::Response& res) {
    res.set_chunked_content_provider(kEventStream, [&](size_t, httplib::DataSink& sink) {
      write_text(sink, token("x"));
      return !release_.wait_for(20ms); // a token every 20 ms, forever
    });
  });
  auto llm = make();
  ASSERT_TRUE(llm);
  LlmRequest r = llm_request();
  r.total_timeout = 400ms;
  Pieces pieces;
  auto result = llm->generate(r, collect(pieces));
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().kind, ProviderErrorKind::timeout) << result.error().message;
  EXPECT_NE(result.error().message.find("total"), std::string::npos) << result.error().message;
  EXPECT_FALSE(pieces.list.empty());
}

TEST_F(OpenAiLlmTest, DisconnectMidStreamDeliversTheTokensSoFar) {
  serve([&](const httplib::Request&, httplib::Response& res) {
    res.set_chunked_content_provider(kEventStream, [&](size_t, httplib::DataSink& sink) {
      write_text(sink, role_chunk() + token("One") + token(" two"));
      return false; // closes the connection without the terminating chunk
    });
  });
  Pieces pieces;
  auto result = generate(pieces);
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().kind, ProviderErrorKind::disconnected) << result.error().message;
  EXPECT_TRUE(result.error().retryable);
  EXPECT_EQ(pieces.list, (std::vector<std::string>{"One", " two"}));
}

TEST_F(OpenAiLlmTest, CleanEndWithoutDoneOrFinishReasonIsADisconnect) {
  serve([&](const httplib::Request&, httplib::Response& res) {
    res.set_content(role_chunk() + token("cut"), kEventStream);
  });
  Pieces pieces;
  auto result = generate(pieces);
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().kind, ProviderErrorKind::disconnected) << result.error().message;
  EXPECT_EQ(pieces.list, (std::vector<std::string>{"cut"}));
}

TEST_F(OpenAiLlmTest, FinishReasonWithoutDoneLineIsComplete) {
  serve([&](const httplib::Request&, httplib::Response& res) {
    res.set_content(token("fine") + stop_chunk(), kEventStream);
  });
  Pieces pieces;
  auto result = generate(pieces);
  ASSERT_TRUE(result) << result.error().message;
  EXPECT_EQ(result->text, "fine");
}

TEST_F(OpenAiLlmTest, DoneLineEndsTheReplyEvenIfTheServerKeepsTheResponseOpen) {
  serve([&](const httplib::Request&, httplib::Response& res) {
    res.set_chunked_content_provider(kEventStream, [&](size_t, httplib::DataSink& sink) {
      write_text(sink, token("all") + token(" done") + stop_chunk() + kDone);
      release_.wait_for(kWait); // never ends the chunked body
      return false;
    });
  });
  auto llm = make();
  ASSERT_TRUE(llm);
  Pieces pieces;
  const auto start = std::chrono::steady_clock::now();
  auto result = llm->generate(llm_request(), collect(pieces));
  ASSERT_TRUE(result) << result.error().message;
  EXPECT_EQ(result->text, "all done");
  EXPECT_EQ(result->finish, FinishReason::complete);
  EXPECT_LT(std::chrono::steady_clock::now() - start, kWait);
}

TEST_F(OpenAiLlmTest, RateLimitedCarriesRetryAfter) {
  serve([](const httplib::Request&, httplib::Response& res) {
    res.status = 429;
    res.set_header("Retry-After", "7");
    res.set_content(R"({"error":{"message":"Rate limit reached for requests","type":"requests",)"
                    R"("param":null,"code":"rate_limit_exceeded"}})",
                    "application/json");
  });
  Pieces pieces;
  auto result = generate(pieces);
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().kind, ProviderErrorKind::rate_limited) << result.error().message;
  EXPECT_EQ(result.error().http_status, 429);
  EXPECT_TRUE(result.error().retryable);
  ASSERT_TRUE(result.error().retry_after.has_value());
  EXPECT_EQ(*result.error().retry_after, 7000ms);
  EXPECT_NE(result.error().message.find("Rate limit reached"), std::string::npos);
}

TEST_F(OpenAiLlmTest, ServerErrorCarriesTheServersMessageBounded) {
  const std::string long_tail(5000, 'z');
  serve([&](const httplib::Request&, httplib::Response& res) {
    res.status = 500;
    res.set_content(
        json{{"error",
              {{"message", "The server had an error processing your request " + long_tail},
               {"type", "server_error"}}}}
            .dump(),
        "application/json");
  });
  Pieces pieces;
  auto result = generate(pieces);
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().kind, ProviderErrorKind::http) << result.error().message;
  EXPECT_EQ(result.error().http_status, 500);
  EXPECT_TRUE(result.error().retryable);
  EXPECT_NE(result.error().message.find("The server had an error processing your request"),
            std::string::npos)
      << result.error().message;
  EXPECT_LT(result.error().message.size(), 600u) << "the server's message is bounded";
}

TEST_F(OpenAiLlmTest, BadRequestIsNotRetryable) {
  serve([](const httplib::Request&, httplib::Response& res) {
    res.status = 400;
    res.set_content(
        R"({"error":{"message":"max_tokens is too large","type":"invalid_request_error"}})",
        "application/json");
  });
  Pieces pieces;
  auto result = generate(pieces);
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().kind, ProviderErrorKind::http);
  EXPECT_FALSE(result.error().retryable);
  EXPECT_NE(result.error().message.find("max_tokens is too large"), std::string::npos);
}

TEST_F(OpenAiLlmTest, CancelFromAnotherThreadMidStreamReturnsPromptly) {
  Gate first_token_seen;
  serve([&](const httplib::Request&, httplib::Response& res) {
    res.set_chunked_content_provider(kEventStream, [&](size_t, httplib::DataSink& sink) {
      write_text(sink, role_chunk() + token("Well"));
      while (!release_.wait_for(20ms)) {
        if (!write_text(sink, ": keep-alive\n\n")) {
          return false; // the client went away
        }
      }
      return false;
    });
  });
  auto llm = make();
  ASSERT_TRUE(llm);
  CancelOnGate canceller(first_token_seen);
  LlmRequest r = llm_request();
  r.cancel = canceller.token();
  Pieces pieces;
  auto result = llm->generate(r, [&](std::string_view piece) {
    pieces.list.emplace_back(piece);
    first_token_seen.open();
    return true;
  });
  const auto returned_at = std::chrono::steady_clock::now();
  const auto cancelled_at = canceller.join();
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().kind, ProviderErrorKind::cancelled) << result.error().message;
  EXPECT_FALSE(result.error().retryable);
  ASSERT_TRUE(cancelled_at);
  EXPECT_LT(returned_at - *cancelled_at, 2000ms) << "generous bound: the stream never ends itself";
  EXPECT_EQ(pieces.list, (std::vector<std::string>{"Well"}));
}

TEST_F(OpenAiLlmTest, AlreadyCancelledSendsNothing) {
  serve([](const httplib::Request&, httplib::Response& res) {
    res.set_content(kDone, kEventStream);
  });
  auto llm = make();
  ASSERT_TRUE(llm);
  CancelSource cancel;
  cancel.cancel();
  LlmRequest r = llm_request();
  r.cancel = cancel.token();
  Pieces pieces;
  auto result = llm->generate(r, collect(pieces));
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().kind, ProviderErrorKind::cancelled);
  EXPECT_EQ(log_.count(), 0u);
}

TEST_F(OpenAiLlmTest, SinkReturningFalseStopsTheStream) {
  serve([&](const httplib::Request&, httplib::Response& res) {
    res.set_chunked_content_provider(kEventStream, [&](size_t, httplib::DataSink& sink) {
      write_text(sink, token("one") + token(" two"));
      while (!release_.wait_for(20ms)) {
        if (!write_text(sink, token(" more"))) {
          return false;
        }
      }
      return false;
    });
  });
  auto llm = make();
  ASSERT_TRUE(llm);
  int calls = 0;
  auto result = llm->generate(llm_request(), [&](std::string_view) { return ++calls < 2; });
  ASSERT_TRUE(result) << result.error().message;
  EXPECT_EQ(calls, 2);
  EXPECT_EQ(result->finish, FinishReason::stopped_by_caller);
  EXPECT_EQ(result->text, "one two");
  EXPECT_EQ(result->pieces, 2);
}

TEST_F(OpenAiLlmTest, MalformedEventIsAProtocolError) {
  serve([](const httplib::Request&, httplib::Response& res) {
    res.set_content(token("fine") + sse("{\"choices\": [ {\"delta\": oops") + kDone, kEventStream);
  });
  Pieces pieces;
  auto result = generate(pieces);
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().kind, ProviderErrorKind::protocol) << result.error().message;
  EXPECT_EQ(pieces.list, (std::vector<std::string>{"fine"}));
}

TEST_F(OpenAiLlmTest, WrongJsonTypesAreProtocolErrors) {
  for (const std::string& bad :
       {std::string(R"({"choices": {"0": 1}})"),
        std::string(R"({"choices": [{"delta": {"content": 42}}]})"), std::string(R"([1, 2, 3])")}) {
    LocalHttpServer server;
    server.http().Post("/v1/chat/completions",
                       [&](const httplib::Request&, httplib::Response& res) {
                         res.set_content(sse(bad) + kDone, kEventStream);
                       });
    server.start();
    OpenAiLlmParams params;
    params.base_url = server.url("/v1");
    auto llm = OpenAiLlm::create(params);
    ASSERT_TRUE(llm);
    Pieces pieces;
    auto result = (*llm)->generate(llm_request(), collect(pieces));
    ASSERT_FALSE(result) << bad;
    EXPECT_EQ(result.error().kind, ProviderErrorKind::protocol) << bad;
  }
}

TEST_F(OpenAiLlmTest, ToleratesEmptyChoicesUsageChunksAndCrLfFraming) {
  serve([](const httplib::Request&, httplib::Response& res) {
    std::string body = sse(R"({"id":"x","object":"chat.completion.chunk","choices":[],)"
                           R"("prompt_filter_results":[]})");
    std::string tok = token("hi");
    // CRLF line endings (some proxies rewrite them).
    std::string crlf;
    for (char c : tok) {
      crlf += (c == '\n') ? std::string("\r\n") : std::string(1, c);
    }
    body += crlf + stop_chunk();
    body += sse(R"({"id":"x","object":"chat.completion.chunk","choices":[],)"
                R"("usage":{"prompt_tokens":9,"completion_tokens":1,"total_tokens":10}})");
    body += kDone;
    res.set_content(body, kEventStream);
  });
  Pieces pieces;
  auto result = generate(pieces);
  ASSERT_TRUE(result) << result.error().message;
  EXPECT_EQ(result->text, "hi");
}

TEST_F(OpenAiLlmTest, ErrorEventInsideTheStreamIsTyped) {
  serve([](const httplib::Request&, httplib::Response& res) {
    res.set_content(
        token("par") +
            sse(R"({"error":{"message":"Rate limit hit mid-stream","type":"rate_limit_error"}})"),
        kEventStream);
  });
  Pieces pieces;
  auto result = generate(pieces);
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().kind, ProviderErrorKind::rate_limited) << result.error().message;
  EXPECT_NE(result.error().message.find("Rate limit hit mid-stream"), std::string::npos);
  EXPECT_EQ(pieces.list, (std::vector<std::string>{"par"}));
}

TEST_F(OpenAiLlmTest, AServerIgnoringStreamTrueStillWorks) {
  serve([](const httplib::Request&, httplib::Response& res) {
    res.set_content(R"({"id":"c","object":"chat.completion","choices":[{"index":0,"message":)"
                    R"({"role":"assistant","content":"Whole answer."},"finish_reason":"stop"}]})",
                    "application/json");
  });
  Pieces pieces;
  auto result = generate(pieces);
  ASSERT_TRUE(result) << result.error().message;
  EXPECT_EQ(pieces.list, (std::vector<std::string>{"Whole answer."}));
  EXPECT_EQ(result->finish, FinishReason::complete);
}

TEST_F(OpenAiLlmTest, AWebPageInsteadOfAStreamIsAProtocolError) {
  serve([](const httplib::Request&, httplib::Response& res) {
    res.set_content("<html><body>Welcome to nginx!</body></html>", "text/html");
  });
  Pieces pieces;
  auto result = generate(pieces);
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().kind, ProviderErrorKind::protocol) << result.error().message;
  EXPECT_NE(result.error().message.find("base URL"), std::string::npos);
}

TEST_F(OpenAiLlmTest, ConnectionRefusedIsDisconnected) {
  server_.start();
  const std::string url = server_.url("/v1");
  server_.stop(); // nobody listens on that port any more
  OpenAiLlmParams params;
  params.base_url = url;
  auto llm = OpenAiLlm::create(params);
  ASSERT_TRUE(llm);
  Pieces pieces;
  auto result = (*llm)->generate(llm_request(), collect(pieces));
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().kind, ProviderErrorKind::disconnected) << result.error().message;
}

TEST_F(OpenAiLlmTest, InvalidRequestsAndSettingsFailTypedWithoutSending) {
  serve([](const httplib::Request&, httplib::Response& res) {
    res.set_content(kDone, kEventStream);
  });
  auto llm = make();
  ASSERT_TRUE(llm);
  Pieces pieces;
  LlmRequest empty = llm_request();
  empty.messages.clear();
  auto r1 = llm->generate(empty, collect(pieces));
  ASSERT_FALSE(r1);
  EXPECT_EQ(r1.error().kind, ProviderErrorKind::bad_input);
  EXPECT_EQ(log_.count(), 0u);

  OpenAiLlmParams bad;
  bad.base_url = "ftp://example.com/v1";
  auto created = OpenAiLlm::create(bad);
  ASSERT_FALSE(created);
  EXPECT_EQ(created.error().kind, ProviderErrorKind::config);
  bad.base_url = "http://127.0.0.1:1/v1?key=AIzaSomething";
  created = OpenAiLlm::create(bad);
  ASSERT_FALSE(created);
  EXPECT_EQ(created.error().kind, ProviderErrorKind::config);
}

TEST_F(OpenAiLlmTest, BuiltinRegistryMakesItFromSettings) {
  serve([](const httplib::Request&, httplib::Response& res) {
    res.set_content(token("from registry") + stop_chunk() + kDone, kEventStream);
  });
  config::LlmSettings settings;
  settings.provider = "openai";
  settings.base_url = server_.url("/v1/"); // a trailing slash is fine
  settings.openai_model = "llama-3.2-1b";
  auto registry = builtin_llm_registry();
  ASSERT_TRUE(registry.contains("openai"));
  auto llm = registry.create("OpenAI", settings);
  ASSERT_TRUE(llm) << llm.error().message;
  EXPECT_EQ((*llm)->name(), "openai");
  EXPECT_TRUE((*llm)->is_language_model());
  Pieces pieces;
  auto result = (*llm)->generate(llm_request(), collect(pieces));
  ASSERT_TRUE(result) << result.error().message;
  EXPECT_EQ(result->text, "from registry");
  EXPECT_EQ(log_.last().path, "/v1/chat/completions");
  EXPECT_EQ(log_.last().json()["model"], "llama-3.2-1b");
}

TEST_F(OpenAiLlmTest, ConcurrentCallsOnOneProvider) {
  serve([](const httplib::Request& req, httplib::Response& res) {
    const json body = json::parse(req.body);
    const std::string last = body["messages"].back()["content"];
    res.set_content(token("echo:") + token(last) + stop_chunk() + kDone, kEventStream);
  });
  auto llm = make();
  ASSERT_TRUE(llm);
  constexpr int kCalls = 6;
  std::vector<std::string> texts(kCalls);
  std::vector<std::thread> threads;
  for (int i = 0; i < kCalls; ++i) {
    threads.emplace_back([&, i] {
      LlmRequest r = llm_request();
      r.messages.back().content = "n" + std::to_string(i);
      auto result = llm->generate(r, [](std::string_view) { return true; });
      texts[static_cast<std::size_t>(i)] = result ? result->text : result.error().message;
    });
  }
  for (auto& t : threads) {
    t.join();
  }
  for (int i = 0; i < kCalls; ++i) {
    EXPECT_EQ(texts[static_cast<std::size_t>(i)], "echo:n" + std::to_string(i));
  }
}

} // namespace
} // namespace pv::cascade
