// MODEL_PROVIDER=anthropic against a local server speaking the Messages API streaming format.

#include "cascade/llm/anthropic_llm.hpp"
#include "cascade/llm/llm_registry.hpp"
#include "fake_api_server.hpp"

#include <array>
#include <atomic>
#include <thread>

namespace pv::cascade {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using pv::test::Gate;
using testing::CancelOnGate;
using testing::llm_request;
using testing::LogCapture;
using testing::sse;
using testing::wait_gate;
using testing::write_text;

constexpr const char* kKey = "sk-ant-api03-SECRETabcdef0123456789";
constexpr const char* kEventStream = "text/event-stream; charset=utf-8";

// The events exactly as api.anthropic.com frames them (event name + JSON with the same type).
std::string message_start() {
  return sse(json{{"type", "message_start"},
                  {"message",
                   {{"id", "msg_01Test"},
                    {"type", "message"},
                    {"role", "assistant"},
                    {"content", json::array()},
                    {"model", "claude-test"},
                    {"stop_reason", nullptr},
                    {"stop_sequence", nullptr},
                    {"usage", {{"input_tokens", 25}, {"output_tokens", 1}}}}}}
                 .dump(),
             "message_start");
}
std::string block_start() {
  return sse(
      R"({"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}})",
      "content_block_start");
}
std::string ping() {
  return sse(R"({"type": "ping"})", "ping");
}
std::string text_delta(const std::string& text) {
  return sse(json{{"type", "content_block_delta"},
                  {"index", 0},
                  {"delta", {{"type", "text_delta"}, {"text", text}}}}
                 .dump(),
             "content_block_delta");
}
std::string block_stop() {
  return sse(R"({"type":"content_block_stop","index":0})", "content_block_stop");
}
std::string message_delta(const std::string& stop_reason = "end_turn") {
  return sse(json{{"type", "message_delta"},
                  {"delta", {{"stop_reason", stop_reason}, {"stop_sequence", nullptr}}},
                  {"usage", {{"output_tokens", 15}}}}
                 .dump(),
             "message_delta");
}
std::string message_stop() {
  return sse(R"({"type":"message_stop"})", "message_stop");
}
std::string error_event(const std::string& type, const std::string& message) {
  return sse(json{{"type", "error"}, {"error", {{"type", type}, {"message", message}}}}.dump(),
             "error");
}
std::string error_body(const std::string& type, const std::string& message) {
  return json{{"type", "error"}, {"error", {{"type", type}, {"message", message}}}}.dump();
}
std::string whole_reply(const std::vector<std::string>& pieces,
                        const std::string& stop_reason = "end_turn") {
  std::string out = message_start() + block_start() + ping();
  for (const auto& p : pieces) {
    out += text_delta(p);
  }
  return out + block_stop() + message_delta(stop_reason) + message_stop();
}

class AnthropicLlmTest : public testing::FakeApiTest {
protected:
  void serve(Handler handler) {
    serve_post("/v1/messages", [handler](const httplib::Request& req, httplib::Response& res) {
      res.set_header("request-id", "req_test");
      handler(req, res);
    });
  }

  std::unique_ptr<AnthropicLlm> make(const std::string& key = kKey,
                                     std::chrono::milliseconds idle = 5000ms) {
    AnthropicLlmParams params;
    params.base_url = server_.url("");
    params.api_key = key;
    params.model = "claude-test";
    params.idle_timeout = idle;
    return testing::created(AnthropicLlm::create(params));
  }

  // One generate() of llm_request() on a provider from make(key, idle), into `pieces`.
  tl::expected<LlmResult, ProviderError> generate(std::vector<std::string>& pieces,
                                                  const std::string& key = kKey,
                                                  std::chrono::milliseconds idle = 5000ms) {
    auto llm = make(key, idle);
    if (!llm) {
      return tl::unexpected(make_error(ProviderErrorKind::internal, "no provider"));
    }
    return llm->generate(llm_request(), collect(pieces));
  }

  static TokenSink collect(std::vector<std::string>& pieces) {
    return [&pieces](std::string_view piece) {
      pieces.emplace_back(piece);
      return true;
    };
  }
};

TEST_F(AnthropicLlmTest, StreamsTextDeltasIncrementallyAndSendsTheRightRequest) {
  const std::vector<std::string> tokens = {"Knock", " knock", "."};
  std::array<Gate, 3> delivered;
  std::atomic<int> server_waits_ok{0};
  serve([&](const httplib::Request&, httplib::Response& res) {
    res.set_chunked_content_provider(kEventStream, [&](size_t, httplib::DataSink& sink) {
      write_text(sink, message_start() + block_start() + ping());
      for (std::size_t i = 0; i < tokens.size(); ++i) {
        write_text(sink, text_delta(tokens[i]));
        if (wait_gate(delivered[i])) { // the next delta only after this one reached the sink
          ++server_waits_ok;
        }
      }
      write_text(sink, block_stop() + message_delta() + message_stop());
      sink.done();
      return true;
    });
  });
  LogCapture logs;
  auto llm = make();
  ASSERT_TRUE(llm);
  std::vector<std::string> pieces;
  auto result = llm->generate(llm_request(), [&](std::string_view piece) {
    pieces.emplace_back(piece);
    delivered[pieces.size() - 1].open();
    return true;
  });
  ASSERT_TRUE(result) << result.error().message;
  EXPECT_EQ(pieces, tokens);
  EXPECT_EQ(server_waits_ok.load(), 3);
  EXPECT_EQ(result->text, "Knock knock.");
  EXPECT_EQ(result->finish, FinishReason::complete);

  const auto req = log_.last();
  EXPECT_EQ(req.method, "POST");
  EXPECT_EQ(req.path, "/v1/messages");
  EXPECT_EQ(req.header("x-api-key"), kKey);
  EXPECT_EQ(req.header("anthropic-version"), "2023-06-01");
  EXPECT_NE(req.header("content-type").find("application/json"), std::string::npos);
  EXPECT_FALSE(req.has_header("Authorization"));
  const json body = req.json();
  ASSERT_FALSE(body.is_discarded()) << req.body;
  EXPECT_EQ(body["model"], "claude-test");
  EXPECT_EQ(body["max_tokens"], 64);
  EXPECT_EQ(body["stream"], true);
  EXPECT_EQ(body["system"], "You are a co-host.");
  const json expected = json::array({{{"role", "user"}, {"content", "Hi there"}},
                                     {{"role", "assistant"}, {"content", "Hello!"}},
                                     {{"role", "user"}, {"content", "Tell me a joke"}}});
  EXPECT_EQ(body["messages"], expected);
  EXPECT_EQ(logs.text().find(kKey), std::string::npos) << logs.text();
}

TEST_F(AnthropicLlmTest, MessagesAreNormalisedForTheApi) {
  serve([](const httplib::Request&, httplib::Response& res) {
    res.set_content(whole_reply({"ok"}), kEventStream);
  });
  auto llm = make();
  ASSERT_TRUE(llm);
  LlmRequest r;
  r.messages = {{Role::system, "Persona."},
                {Role::assistant, "Welcome, everyone!"},
                {Role::system, "Feedback: 3 cheers."},
                {Role::user, "First point."},
                {Role::user, "Second point."}};
  std::vector<std::string> pieces;
  auto result = llm->generate(r, collect(pieces));
  ASSERT_TRUE(result) << result.error().message;
  const json body = log_.last().json();
  EXPECT_EQ(body["system"], "Persona.\n\nFeedback: 3 cheers.");
  ASSERT_EQ(body["messages"].size(), 3u) << body.dump();
  EXPECT_EQ(body["messages"][0]["role"], "user") << "must start with a user turn";
  EXPECT_EQ(body["messages"][1], json({{"role", "assistant"}, {"content", "Welcome, everyone!"}}));
  EXPECT_EQ(body["messages"][2],
            json({{"role", "user"}, {"content", "First point.\n\nSecond point."}}));
  for (const auto& m : body["messages"]) {
    EXPECT_NE(m["role"], "system");
  }
}

TEST_F(AnthropicLlmTest, NoKeyNoHeader) {
  serve([](const httplib::Request&, httplib::Response& res) {
    res.set_content(whole_reply({"local"}), kEventStream);
  });
  auto llm = make("");
  ASSERT_TRUE(llm);
  std::vector<std::string> pieces;
  ASSERT_TRUE(llm->generate(llm_request(), collect(pieces)));
  EXPECT_FALSE(log_.last().has_header("x-api-key"));
  EXPECT_EQ(log_.last().header("anthropic-version"), "2023-06-01");
}

TEST_F(AnthropicLlmTest, StopReasonMaxTokens) {
  serve([](const httplib::Request&, httplib::Response& res) {
    res.set_content(whole_reply({"cut", " short"}, "max_tokens"), kEventStream);
  });
  std::vector<std::string> pieces;
  auto result = generate(pieces);
  ASSERT_TRUE(result) << result.error().message;
  EXPECT_EQ(result->finish, FinishReason::max_tokens);
  EXPECT_EQ(result->text, "cut short");
}

TEST_F(AnthropicLlmTest, UnknownEventsAndOtherDeltaTypesAreIgnored) {
  serve([](const httplib::Request&, httplib::Response& res) {
    std::string body = message_start();
    body += sse(
        R"({"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":""}})",
        "content_block_start");
    body += sse(
        R"({"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"hmm"}})",
        "content_block_delta");
    body += sse(R"({"type":"future_event","x":1})", "future_event");
    body += block_start() + text_delta("visible") + block_stop() + message_delta() + message_stop();
    res.set_content(body, kEventStream);
  });
  std::vector<std::string> pieces;
  auto result = generate(pieces);
  ASSERT_TRUE(result) << result.error().message;
  EXPECT_EQ(pieces, (std::vector<std::string>{"visible"}));
}

TEST_F(AnthropicLlmTest, OverloadedErrorEventMidStreamIsRateLimitedAfterTheTextSoFar) {
  serve([](const httplib::Request&, httplib::Response& res) {
    res.set_content(message_start() + block_start() + text_delta("Sure") +
                        error_event("overloaded_error", "Overloaded"),
                    kEventStream);
  });
  std::vector<std::string> pieces;
  auto result = generate(pieces);
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().kind, ProviderErrorKind::rate_limited) << result.error().message;
  EXPECT_TRUE(result.error().retryable);
  EXPECT_NE(result.error().message.find("Overloaded"), std::string::npos);
  EXPECT_EQ(pieces, (std::vector<std::string>{"Sure"}));
}

TEST_F(AnthropicLlmTest, ApiErrorEventIsHttp) {
  serve([](const httplib::Request&, httplib::Response& res) {
    res.set_content(message_start() + error_event("api_error", "Internal server error"),
                    kEventStream);
  });
  std::vector<std::string> pieces;
  auto result = generate(pieces);
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().kind, ProviderErrorKind::http) << result.error().message;
  EXPECT_NE(result.error().message.find("Internal server error"), std::string::npos);
}

TEST_F(AnthropicLlmTest, HttpStatusesAreTyped) {
  struct Case {
    int status;
    std::string type;
    std::string message;
    ProviderErrorKind kind;
  };
  const std::vector<Case> cases = {
      {401, "authentication_error", std::string("invalid x-api-key ") + kKey,
       ProviderErrorKind::auth},
      {403, "permission_error", "Your API key does not have permission", ProviderErrorKind::auth},
      {529, "overloaded_error", "Overloaded", ProviderErrorKind::rate_limited},
      {500, "api_error", "Internal server error", ProviderErrorKind::http},
      {400, "invalid_request_error", "messages: roles must alternate", ProviderErrorKind::http}};
  std::atomic<std::size_t> index{0};
  serve([&](const httplib::Request&, httplib::Response& res) {
    const Case& c = cases[index.load()];
    res.status = c.status;
    res.set_content(error_body(c.type, c.message), "application/json");
  });
  LogCapture logs;
  auto llm = make();
  ASSERT_TRUE(llm);
  for (std::size_t i = 0; i < cases.size(); ++i) {
    index = i;
    std::vector<std::string> pieces;
    auto result = llm->generate(llm_request(), collect(pieces));
    ASSERT_FALSE(result) << cases[i].status;
    EXPECT_EQ(result.error().kind, cases[i].kind) << cases[i].status << result.error().message;
    EXPECT_EQ(result.error().http_status, cases[i].status);
    EXPECT_EQ(result.error().message.find(kKey), std::string::npos) << result.error().message;
    if (cases[i].status != 401) {
      EXPECT_NE(result.error().message.find(cases[i].message), std::string::npos)
          << result.error().message;
    }
  }
  EXPECT_EQ(logs.text().find(kKey), std::string::npos) << logs.text();
}

TEST_F(AnthropicLlmTest, RateLimitedCarriesRetryAfter) {
  serve([](const httplib::Request&, httplib::Response& res) {
    res.status = 429;
    res.set_header("retry-after", "12");
    res.set_content(error_body("rate_limit_error", "Number of request tokens has exceeded"),
                    "application/json");
  });
  std::vector<std::string> pieces;
  auto result = generate(pieces);
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().kind, ProviderErrorKind::rate_limited);
  ASSERT_TRUE(result.error().retry_after);
  EXPECT_EQ(*result.error().retry_after, 12000ms);
}

TEST_F(AnthropicLlmTest, PingsAreNotProgressBeforeTheFirstToken) {
  serve([&](const httplib::Request&, httplib::Response& res) {
    res.set_chunked_content_provider(kEventStream, [&](size_t, httplib::DataSink& sink) {
      write_text(sink, message_start() + block_start());
      while (!release_.wait_for(50ms)) {
        if (!write_text(sink, ping())) {
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
  std::vector<std::string> pieces;
  auto result = llm->generate(r, collect(pieces));
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().kind, ProviderErrorKind::first_token_timeout) << result.error().message;
}

TEST_F(AnthropicLlmTest, StallMidStreamIsATimeout) {
  serve([&](const httplib::Request&, httplib::Response& res) {
    res.set_chunked_content_provider(kEventStream, [&](size_t, httplib::DataSink& sink) {
      write_text(sink, message_start() + block_start() + text_delta("Once"));
      while (!release_.wait_for(50ms)) {
        if (!write_text(sink, ping())) {
          return false;
        }
      }
      return false;
    });
  });
  std::vector<std::string> pieces;
  auto result = generate(pieces, kKey, 300ms);
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().kind, ProviderErrorKind::timeout) << result.error().message;
  EXPECT_EQ(pieces, (std::vector<std::string>{"Once"}));
}

TEST_F(AnthropicLlmTest, DisconnectMidStreamDeliversTheTextSoFar) {
  serve([&](const httplib::Request&, httplib::Response& res) {
    res.set_chunked_content_provider(kEventStream, [&](size_t, httplib::DataSink& sink) {
      write_text(sink, message_start() + block_start() + text_delta("One") + text_delta(" two"));
      return false;
    });
  });
  std::vector<std::string> pieces;
  auto result = generate(pieces);
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().kind, ProviderErrorKind::disconnected) << result.error().message;
  EXPECT_EQ(pieces, (std::vector<std::string>{"One", " two"}));
}

TEST_F(AnthropicLlmTest, EndWithoutMessageStopOrStopReasonIsADisconnect) {
  serve([](const httplib::Request&, httplib::Response& res) {
    res.set_content(message_start() + block_start() + text_delta("half"), kEventStream);
  });
  std::vector<std::string> pieces;
  auto result = generate(pieces);
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().kind, ProviderErrorKind::disconnected) << result.error().message;
}

TEST_F(AnthropicLlmTest, CancelFromAnotherThreadMidStream) {
  Gate first_seen;
  serve([&](const httplib::Request&, httplib::Response& res) {
    res.set_chunked_content_provider(kEventStream, [&](size_t, httplib::DataSink& sink) {
      write_text(sink, message_start() + block_start() + text_delta("Well"));
      while (!release_.wait_for(20ms)) {
        if (!write_text(sink, ping())) {
          return false;
        }
      }
      return false;
    });
  });
  auto llm = make();
  ASSERT_TRUE(llm);
  CancelOnGate canceller(first_seen);
  LlmRequest r = llm_request();
  r.cancel = canceller.token();
  std::vector<std::string> pieces;
  auto result = llm->generate(r, [&](std::string_view piece) {
    pieces.emplace_back(piece);
    first_seen.open();
    return true;
  });
  const auto returned_at = std::chrono::steady_clock::now();
  const auto cancelled_at = canceller.join();
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().kind, ProviderErrorKind::cancelled) << result.error().message;
  ASSERT_TRUE(cancelled_at);
  EXPECT_LT(returned_at - *cancelled_at, 2000ms);
  EXPECT_EQ(pieces, (std::vector<std::string>{"Well"}));
}

TEST_F(AnthropicLlmTest, MalformedEventIsAProtocolError) {
  serve([](const httplib::Request&, httplib::Response& res) {
    res.set_content(message_start() + block_start() + text_delta("a") +
                        sse(R"({"type":"content_block_delta","delta":{"type":"text_delta"}})",
                            "content_block_delta") +
                        message_stop(),
                    kEventStream);
  });
  std::vector<std::string> pieces;
  auto result = generate(pieces);
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().kind, ProviderErrorKind::protocol) << result.error().message;
  EXPECT_EQ(pieces, (std::vector<std::string>{"a"}));
}

TEST_F(AnthropicLlmTest, NotJsonIsAProtocolError) {
  serve([](const httplib::Request&, httplib::Response& res) {
    res.set_content(message_start() + sse("<html>", "content_block_delta"), kEventStream);
  });
  std::vector<std::string> pieces;
  auto result = generate(pieces);
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().kind, ProviderErrorKind::protocol) << result.error().message;
}

TEST_F(AnthropicLlmTest, BuiltinRegistryMakesItFromSettings) {
  serve([](const httplib::Request&, httplib::Response& res) {
    res.set_content(whole_reply({"registered"}), kEventStream);
  });
  config::LlmSettings settings;
  settings.provider = "anthropic";
  settings.anthropic_base_url = server_.url("");
  settings.anthropic_api_key = kKey;
  settings.anthropic_model = "claude-3-5-haiku-latest";
  auto registry = builtin_llm_registry();
  auto llm = registry.create("anthropic", settings);
  ASSERT_TRUE(llm) << llm.error().message;
  EXPECT_EQ((*llm)->name(), "anthropic");
  std::vector<std::string> pieces;
  auto result = (*llm)->generate(llm_request(), collect(pieces));
  ASSERT_TRUE(result) << result.error().message;
  EXPECT_EQ(result->text, "registered");
  EXPECT_EQ(log_.last().json()["model"], "claude-3-5-haiku-latest");
}

} // namespace
} // namespace pv::cascade
