// HTTP client (libcurl) against cpp-httplib servers on 127.0.0.1.

#include "net/http_client.hpp"
#include "net/io_thread.hpp"
#include "net/sse.hpp"
#include "net/ws_server.hpp"
#include "support/local_http_server.hpp"
#include "support/tls_certs.hpp"
#include "ws_test_util.hpp"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <future>
#include <mutex>
#include <sstream>
#include <thread>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

namespace pv::net {
namespace {

using namespace std::chrono_literals;
using pv::test::Gate;
using pv::test::LocalHttpServer;
using testing::kWait;

// Records one streaming call.
class CallRecorder {
public:
  HttpStreamHandlers handlers() {
    HttpStreamHandlers h;
    h.on_head = [this](const HttpResponseHead& head) {
      std::lock_guard lock(mutex_);
      head_ = head;
      order_.push_back("head");
    };
    h.on_chunk = [this](std::string_view chunk) {
      std::function<void(std::string_view)> hook;
      {
        std::lock_guard lock(mutex_);
        chunks_.emplace_back(chunk);
        body_ += chunk;
        order_.push_back("chunk");
        hook = on_chunk_hook;
      }
      cv_.notify_all();
      if (hook) {
        hook(chunk);
      }
      return keep_going.load();
    };
    h.on_complete = [this](const HttpResult& result) {
      std::lock_guard lock(mutex_);
      result_ = result;
      ++completions_;
      order_.push_back("complete");
      cv_.notify_all();
    };
    return h;
  }

  bool wait_done(std::chrono::milliseconds bound = kWait) {
    std::unique_lock lock(mutex_);
    return cv_.wait_for(lock, bound, [&] { return completions_ > 0; });
  }
  bool wait_body_contains(std::string_view text) {
    std::unique_lock lock(mutex_);
    return cv_.wait_for(lock, kWait, [&] { return body_.find(text) != std::string::npos; });
  }
  HttpResult result() const {
    std::lock_guard lock(mutex_);
    return result_.value_or(tl::unexpected(HttpError{}));
  }
  HttpError error() const { return result().error(); }
  std::string body() const {
    std::lock_guard lock(mutex_);
    return body_;
  }
  std::vector<std::string> chunks() const {
    std::lock_guard lock(mutex_);
    return chunks_;
  }
  std::optional<HttpResponseHead> head() const {
    std::lock_guard lock(mutex_);
    return head_;
  }
  std::vector<std::string> order() const {
    std::lock_guard lock(mutex_);
    return order_;
  }
  int completions() const {
    std::lock_guard lock(mutex_);
    return completions_;
  }

  std::function<void(std::string_view)> on_chunk_hook; // set before start()
  std::atomic<bool> keep_going{true};

private:
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  std::optional<HttpResponseHead> head_;
  std::vector<std::string> chunks_;
  std::string body_;
  std::optional<HttpResult> result_;
  int completions_ = 0;
  std::vector<std::string> order_;
};

class HttpClientTest : public ::testing::Test {
protected:
  void SetUp() override {
    auto client = HttpClient::create({});
    ASSERT_TRUE(client) << client.error().describe();
    client_ = std::move(*client);
  }
  void TearDown() override {
    release_.open(); // unblock stalled handlers so that the server can stop
    client_.reset();
    server_.stop();
  }

  HttpRequest get(const std::string& path) {
    HttpRequest request;
    request.url = server_.url(path);
    return request;
  }

  Gate release_; // handlers that stall wait on this (opened in TearDown)
  LocalHttpServer server_;
  std::unique_ptr<HttpClient> client_;
};

TEST_F(HttpClientTest, StreamingChunksArriveBeforeTheServerWritesTheLastOne) {
  Gate client_saw_first;
  std::atomic<bool> server_waited_ok{false};
  std::atomic<bool> last_written{false};
  server_.http().Get("/stream", [&](const httplib::Request&, httplib::Response& res) {
    res.set_chunked_content_provider("text/plain", [&](size_t, httplib::DataSink& sink) {
      sink.write("chunk-1;", 8);
      // The next chunk is only written once the client has seen this one.
      server_waited_ok = client_saw_first.wait_for(kWait);
      sink.write("chunk-2;", 8);
      last_written = true;
      sink.write("chunk-3;", 8);
      sink.done();
      return true;
    });
  });
  server_.start();

  CallRecorder rec;
  std::atomic<bool> last_written_when_first_seen{true};
  rec.on_chunk_hook = [&](std::string_view) {
    if (!client_saw_first.is_open()) {
      last_written_when_first_seen = last_written.load();
      client_saw_first.open();
    }
  };
  auto call = client_->start(get("/stream"), rec.handlers());
  ASSERT_TRUE(rec.wait_done());
  ASSERT_TRUE(rec.result()) << rec.error().describe();
  EXPECT_TRUE(server_waited_ok.load());
  EXPECT_FALSE(last_written_when_first_seen.load());
  EXPECT_EQ(rec.body(), "chunk-1;chunk-2;chunk-3;");
  EXPECT_GE(rec.chunks().size(), 2u);
  EXPECT_EQ(rec.chunks().front(), "chunk-1;");
  EXPECT_EQ(rec.result()->status, 200);
  EXPECT_EQ(rec.result()->body_bytes, 24u);
  ASSERT_TRUE(rec.head());
  EXPECT_EQ(find_header(rec.head()->headers, "content-type"), "text/plain");
  const auto order = rec.order();
  EXPECT_EQ(order.front(), "head");
  EXPECT_EQ(order.back(), "complete");
  EXPECT_TRUE(call->done());
}

TEST_F(HttpClientTest, ServerSentEventsStreamThroughTheParser) {
  server_.http().Post("/v1/chat", [&](const httplib::Request& req, httplib::Response& res) {
    EXPECT_EQ(req.body, R"({"stream":true})");
    res.set_chunked_content_provider("text/event-stream", [](size_t, httplib::DataSink& sink) {
      const std::string parts[] = {
          ": keep-alive\r\n\r\n", "event: delta\r\ndata: {\"t\":\"Hel\"}\r\n\r\n",
          "event: delta\r\ndata: {\"t\":\"lo\"}\r", "\n\r\ndata: [DONE]\n\n"};
      for (const auto& part : parts) {
        sink.write(part.data(), part.size());
      }
      sink.done();
      return true;
    });
  });
  server_.start();

  std::vector<SseEvent> events;
  SseParser parser([&](const SseEvent& event) { events.push_back(event); });
  std::string parse_error;
  HttpStreamHandlers handlers;
  handlers.on_chunk = [&](std::string_view chunk) {
    auto fed = parser.feed(chunk);
    if (!fed) {
      parse_error = fed.error().message;
    }
    return fed.has_value();
  };
  std::promise<HttpResult> done;
  handlers.on_complete = [&](const HttpResult& result) {
    done.set_value(result);
  };
  HttpRequest request = get("/v1/chat");
  request.method = "POST";
  request.body = R"({"stream":true})";
  request.headers.push_back({"Content-Type", "application/json"});
  client_->start(request, handlers);
  auto future = done.get_future();
  ASSERT_EQ(future.wait_for(kWait), std::future_status::ready);
  const HttpResult result = future.get();
  ASSERT_TRUE(result) << result.error().describe();
  EXPECT_TRUE(parse_error.empty()) << parse_error;
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0].type, "delta");
  EXPECT_EQ(events[0].data, R"({"t":"Hel"})");
  EXPECT_EQ(events[1].data, R"({"t":"lo"})");
  EXPECT_EQ(events[2].type, "message");
  EXPECT_EQ(events[2].data, "[DONE]");
}

TEST_F(HttpClientTest, TooManyRequestsCarriesStatusBodyAndRetryAfter) {
  server_.http().Get("/limited", [](const httplib::Request&, httplib::Response& res) {
    res.status = 429;
    res.set_header("Retry-After", "7");
    res.set_content(R"({"error":"rate limited"})", "application/json");
  });
  server_.start();
  CallRecorder rec;
  client_->start(get("/limited"), rec.handlers());
  ASSERT_TRUE(rec.wait_done());
  const HttpError error = rec.error();
  EXPECT_EQ(error.kind, HttpErrorKind::http_status) << error.describe();
  EXPECT_EQ(error.status, 429);
  ASSERT_TRUE(error.retry_after);
  EXPECT_EQ(*error.retry_after, 7000ms);
  EXPECT_EQ(error.body_snippet, R"({"error":"rate limited"})");
  EXPECT_TRUE(rec.chunks().empty()); // error bodies are not streamed as data
  EXPECT_FALSE(rec.head());
}

TEST_F(HttpClientTest, ServerErrorBodyIsBounded) {
  server_.http().Get("/boom", [](const httplib::Request&, httplib::Response& res) {
    res.status = 500;
    res.set_content(std::string(10000, 'x'), "text/plain");
  });
  server_.start();
  HttpRequest request = get("/boom");
  request.max_error_body_bytes = 100;
  auto response = client_->perform(request);
  ASSERT_FALSE(response);
  EXPECT_EQ(response.error().kind, HttpErrorKind::http_status);
  EXPECT_EQ(response.error().status, 500);
  EXPECT_EQ(response.error().body_snippet, std::string(100, 'x'));
  EXPECT_FALSE(response.error().retry_after);
}

TEST_F(HttpClientTest, ConnectionRefused) {
  HttpRequest request;
  request.url = "http://127.0.0.1:" + std::to_string(testing::unused_local_port()) + "/";
  auto response = client_->perform(request);
  ASSERT_FALSE(response);
  EXPECT_EQ(response.error().kind, HttpErrorKind::connect_failed) << response.error().describe();
}

TEST_F(HttpClientTest, ConnectTimeout) {
  testing::BlackholeListener blackhole;
  HttpRequest request;
  request.url = "http://127.0.0.1:" + std::to_string(blackhole.port()) + "/";
  request.timeouts.connect_ms = 300;
  request.timeouts.first_byte_ms = 60000;
  auto response = client_->perform(request);
  ASSERT_FALSE(response);
  EXPECT_EQ(response.error().kind, HttpErrorKind::timeout) << response.error().describe();
  EXPECT_EQ(response.error().timeout, HttpTimeout::connect);
}

TEST_F(HttpClientTest, GarbageResponseIsAProtocolError) {
  // A raw TCP server that answers anything with a line that is not HTTP.
  boost::asio::io_context io;
  boost::asio::ip::tcp::acceptor acceptor(
      io, boost::asio::ip::tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), 0));
  std::thread server([&] {
    boost::system::error_code ec;
    boost::asio::ip::tcp::socket socket(io);
    acceptor.accept(socket, ec);
    if (!ec) {
      char buffer[1024];
      socket.read_some(boost::asio::buffer(buffer), ec);
      boost::asio::write(socket, boost::asio::buffer(std::string("SSH-2.0-OpenSSH_9.2\r\n")), ec);
      socket.shutdown(boost::asio::ip::tcp::socket::shutdown_both, ec);
    }
  });
  HttpRequest request;
  request.url = "http://127.0.0.1:" + std::to_string(acceptor.local_endpoint().port()) + "/";
  auto response = client_->perform(request);
  server.join();
  ASSERT_FALSE(response);
  EXPECT_EQ(response.error().kind, HttpErrorKind::protocol) << response.error().describe();
}

TEST_F(HttpClientTest, FirstByteTimeout) {
  server_.http().Get("/slow", [&](const httplib::Request&, httplib::Response& res) {
    release_.wait_for(kWait); // says nothing until the test ends
    res.set_content("late", "text/plain");
  });
  server_.start();
  HttpRequest request = get("/slow");
  request.timeouts.first_byte_ms = 300;
  const auto start = std::chrono::steady_clock::now();
  auto response = client_->perform(request);
  const auto elapsed = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(response);
  EXPECT_EQ(response.error().kind, HttpErrorKind::timeout) << response.error().describe();
  EXPECT_EQ(response.error().timeout, HttpTimeout::first_byte);
  EXPECT_GE(elapsed, 300ms);
  EXPECT_LT(elapsed, kWait);
}

TEST_F(HttpClientTest, IdleTimeoutMidStream) {
  server_.http().Get("/stall", [&](const httplib::Request&, httplib::Response& res) {
    res.set_chunked_content_provider("text/plain", [&](size_t, httplib::DataSink& sink) {
      sink.write("first", 5);
      release_.wait_for(kWait); // then nothing
      return false;
    });
  });
  server_.start();
  CallRecorder rec;
  HttpRequest request = get("/stall");
  request.timeouts.idle_ms = 300;
  client_->start(request, rec.handlers());
  ASSERT_TRUE(rec.wait_done());
  const HttpError error = rec.error();
  EXPECT_EQ(error.kind, HttpErrorKind::timeout) << error.describe();
  EXPECT_EQ(error.timeout, HttpTimeout::idle);
  EXPECT_EQ(rec.body(), "first");
}

TEST_F(HttpClientTest, TotalTimeoutWhileDataKeepsFlowing) {
  server_.http().Get("/endless", [&](const httplib::Request&, httplib::Response& res) {
    res.set_chunked_content_provider("text/plain", [&](size_t, httplib::DataSink& sink) {
      sink.write("tick", 4);
      return !release_.wait_for(20ms); // a chunk every 20 ms until the test ends
    });
  });
  server_.start();
  HttpRequest request = get("/endless");
  request.timeouts.idle_ms = 5000;
  request.timeouts.total_ms = 400;
  CallRecorder rec;
  client_->start(request, rec.handlers());
  ASSERT_TRUE(rec.wait_done());
  const HttpError error = rec.error();
  EXPECT_EQ(error.kind, HttpErrorKind::timeout) << error.describe();
  EXPECT_EQ(error.timeout, HttpTimeout::total);
  EXPECT_FALSE(rec.body().empty());
}

TEST_F(HttpClientTest, ServerDisconnectMidStream) {
  server_.http().Get("/cut", [](const httplib::Request&, httplib::Response& res) {
    res.set_chunked_content_provider("text/plain", [](size_t, httplib::DataSink& sink) {
      sink.write("partial", 7);
      return false; // httplib closes the connection without the terminating chunk
    });
  });
  server_.start();
  CallRecorder rec;
  client_->start(get("/cut"), rec.handlers());
  ASSERT_TRUE(rec.wait_done());
  const HttpError error = rec.error();
  EXPECT_EQ(error.kind, HttpErrorKind::disconnected) << error.describe();
  EXPECT_EQ(rec.body(), "partial");
}

TEST_F(HttpClientTest, CancelFromAnotherThreadMidStream) {
  server_.http().Get("/long", [&](const httplib::Request&, httplib::Response& res) {
    res.set_chunked_content_provider("text/plain", [&](size_t, httplib::DataSink& sink) {
      sink.write("begin", 5);
      release_.wait_for(kWait);
      return false;
    });
  });
  server_.start();
  CallRecorder rec;
  auto call = client_->start(get("/long"), rec.handlers());
  ASSERT_TRUE(rec.wait_body_contains("begin"));
  const auto start = std::chrono::steady_clock::now();
  std::thread canceller([call] { call->cancel(); });
  canceller.join();
  ASSERT_TRUE(rec.wait_done());
  EXPECT_LT(std::chrono::steady_clock::now() - start, kWait);
  EXPECT_EQ(rec.error().kind, HttpErrorKind::cancelled) << rec.error().describe();
  EXPECT_TRUE(call->done());
  call->cancel(); // idempotent, no second completion
  EXPECT_EQ(rec.completions(), 1);
  EXPECT_EQ(client_->active_calls(), 0u);
}

TEST_F(HttpClientTest, PerformStopsOnStopToken) {
  Gate began;
  server_.http().Get("/long", [&](const httplib::Request&, httplib::Response& res) {
    res.set_chunked_content_provider("text/plain", [&](size_t, httplib::DataSink& sink) {
      sink.write("begin", 5);
      began.open();
      release_.wait_for(kWait);
      return false;
    });
  });
  server_.start();
  std::stop_source stop;
  std::thread stopper([&] {
    began.wait_for(kWait);
    stop.request_stop();
  });
  auto response = client_->perform(get("/long"), stop.get_token());
  stopper.join();
  ASSERT_FALSE(response);
  EXPECT_EQ(response.error().kind, HttpErrorKind::cancelled) << response.error().describe();
}

TEST_F(HttpClientTest, ChunkHandlerCanStopTheTransfer) {
  server_.http().Get("/many", [&](const httplib::Request&, httplib::Response& res) {
    res.set_chunked_content_provider("text/plain", [&](size_t, httplib::DataSink& sink) {
      sink.write("x", 1);
      return !release_.wait_for(10ms);
    });
  });
  server_.start();
  CallRecorder rec;
  rec.keep_going = false;
  client_->start(get("/many"), rec.handlers());
  ASSERT_TRUE(rec.wait_done());
  EXPECT_EQ(rec.error().kind, HttpErrorKind::cancelled);
  EXPECT_EQ(rec.chunks().size(), 1u);
}

TEST_F(HttpClientTest, PostSendsMethodHeadersAndBinaryBody) {
  server_.http().Put("/echo", [](const httplib::Request& req, httplib::Response& res) {
    res.set_content(req.method + "|" + req.get_header_value("X-Test") + "|" + req.body,
                    "application/octet-stream");
  });
  server_.start();
  HttpRequest request = get("/echo");
  request.method = "PUT";
  request.headers.push_back({"X-Test", "yes"});
  request.body = std::string("a\0b", 3);
  auto response = client_->perform(request);
  ASSERT_TRUE(response) << response.error().describe();
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->body, std::string("PUT|yes|a\0b", 11));
}

TEST_F(HttpClientTest, EmptyBodyStillDeliversTheHead) {
  server_.http().Get("/empty",
                     [](const httplib::Request&, httplib::Response& res) { res.status = 204; });
  server_.start();
  CallRecorder rec;
  client_->start(get("/empty"), rec.handlers());
  ASSERT_TRUE(rec.wait_done());
  ASSERT_TRUE(rec.result()) << rec.error().describe();
  EXPECT_EQ(rec.result()->status, 204);
  ASSERT_TRUE(rec.head());
  EXPECT_EQ(rec.head()->status, 204);
  EXPECT_EQ((std::vector<std::string>{"head", "complete"}), rec.order());
}

TEST_F(HttpClientTest, BodyLimitOfPerform) {
  server_.http().Get("/big", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(std::string(100000, 'b'), "text/plain");
  });
  server_.start();
  HttpRequest request = get("/big");
  request.max_body_bytes = 1000;
  auto response = client_->perform(request);
  ASSERT_FALSE(response);
  EXPECT_EQ(response.error().kind, HttpErrorKind::protocol);
  EXPECT_NE(response.error().message.find("1000"), std::string::npos);
}

TEST_F(HttpClientTest, InvalidRequestsFailTyped) {
  server_.start();
  HttpRequest bad_url;
  bad_url.url = "ftp://127.0.0.1/";
  HttpRequest injection = get("/");
  injection.headers.push_back({"X-Evil", "a\r\nHost: other"});
  HttpRequest bad_method = get("/");
  bad_method.method = "GE T";
  for (const HttpRequest& request : {bad_url, injection, bad_method}) {
    CallRecorder rec;
    client_->start(request, rec.handlers());
    ASSERT_TRUE(rec.wait_done());
    EXPECT_EQ(rec.error().kind, HttpErrorKind::invalid_argument) << rec.error().describe();
  }
}

TEST_F(HttpClientTest, DestructionCancelsRunningCalls) {
  server_.http().Get("/slow", [&](const httplib::Request&, httplib::Response& res) {
    release_.wait_for(kWait);
    res.set_content("late", "text/plain");
  });
  server_.start();
  CallRecorder rec;
  client_->start(get("/slow"), rec.handlers());
  client_.reset(); // returns after on_complete ran
  EXPECT_EQ(rec.completions(), 1);
  EXPECT_EQ(rec.error().kind, HttpErrorKind::cancelled);
}

TEST_F(HttpClientTest, SecretsNeverReachTheLog) {
  server_.http().Get("/auth", [](const httplib::Request& req, httplib::Response& res) {
    res.status =
        req.get_header_value("Authorization") == "Bearer sk-test-0123456789abcdef" ? 200 : 401;
  });
  server_.start();
  std::ostringstream captured;
  auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(captured);
  auto logger = std::make_shared<spdlog::logger>("capture", sink);
  logger->set_level(spdlog::level::trace);
  auto previous = spdlog::default_logger();
  spdlog::set_default_logger(logger);
  HttpRequest request = get("/auth?key=AIzaSecretQueryKey123456");
  request.headers.push_back({"Authorization", "Bearer sk-test-0123456789abcdef"});
  auto response = client_->perform(request);
  HttpRequest failing;
  failing.url = "http://127.0.0.1:" + std::to_string(testing::unused_local_port()) +
                "/x?key=AIzaSecretQueryKey123456";
  auto failed = client_->perform(failing);
  spdlog::set_default_logger(previous);
  ASSERT_TRUE(response) << response.error().describe();
  ASSERT_FALSE(failed);
  const std::string log = captured.str();
  EXPECT_NE(log.find("/auth"), std::string::npos) << "requests are logged at debug level";
  EXPECT_EQ(log.find("sk-test-0123456789abcdef"), std::string::npos) << log;
  EXPECT_EQ(log.find("AIzaSecretQueryKey123456"), std::string::npos) << log;
  EXPECT_EQ(failed.error().message.find("AIzaSecretQueryKey123456"), std::string::npos);
}

TEST_F(HttpClientTest, ManyConcurrentCallsOnOneClient) {
  // One request per connection: cpp-httplib would otherwise park each of its 8 threads on an
  // idle keep-alive connection for 5 s while the other connections wait. (Its listen backlog of
  // 5 also drops some of the 32 simultaneous SYNs: those connections start after the 1 s SYN
  // retransmit, which is why this test takes about a second.)
  server_.http().set_keep_alive_max_count(1);
  server_.http().Get(R"(/n/(\d+))", [](const httplib::Request& req, httplib::Response& res) {
    res.set_content("value " + req.matches[1].str(), "text/plain");
  });
  server_.start();
  constexpr int kCalls = 32;
  std::vector<std::unique_ptr<CallRecorder>> recs;
  for (int i = 0; i < kCalls; ++i) {
    recs.push_back(std::make_unique<CallRecorder>());
    client_->start(get("/n/" + std::to_string(i)), recs.back()->handlers());
  }
  for (int i = 0; i < kCalls; ++i) {
    ASSERT_TRUE(recs[static_cast<std::size_t>(i)]->wait_done());
    EXPECT_EQ(recs[static_cast<std::size_t>(i)]->body(), "value " + std::to_string(i));
  }
  EXPECT_EQ(client_->active_calls(), 0u);
}

TEST_F(HttpClientTest, PlainGetOnTheWebSocketServerIsRejectedWith400) {
  IoThread io;
  auto ws = WsServer::create(io.context(), {}, {});
  ASSERT_TRUE(ws);
  HttpRequest request;
  request.url = "http://127.0.0.1:" + std::to_string((*ws)->port()) + "/api/chat";
  auto response = client_->perform(request);
  ASSERT_FALSE(response);
  EXPECT_EQ(response.error().kind, HttpErrorKind::http_status);
  EXPECT_EQ(response.error().status, 400);
}

// --- TLS -----------------------------------------------------------------------------------------

class HttpsTest : public ::testing::Test {
protected:
  void SetUp() override {
    server_ =
        std::make_unique<LocalHttpServer>(certs_.server_cert.string(), certs_.server_key.string());
    server_->http().Get("/hello", [](const httplib::Request&, httplib::Response& res) {
      res.set_content("hello over tls", "text/plain");
    });
    server_->start();
  }

  const pv::test::TlsTestCerts& certs_ = pv::test::shared_tls_certs();
  std::unique_ptr<LocalHttpServer> server_;
};

TEST_F(HttpsTest, TrustedCaFileWithHostNameVerification) {
  HttpClientParams params;
  params.tls.ca_file = certs_.ca_cert.string();
  auto client = HttpClient::create(params);
  ASSERT_TRUE(client) << client.error().describe();
  for (const char* host : {"localhost", "127.0.0.1"}) {
    HttpRequest request;
    request.url = server_->url("/hello", host);
    auto response = (*client)->perform(request);
    ASSERT_TRUE(response) << host << ": " << response.error().describe();
    EXPECT_EQ(response->body, "hello over tls");
  }
}

TEST_F(HttpsTest, UntrustedCertificateIsATlsError) {
  HttpClientParams params;
  params.tls.ca_file = certs_.other_ca_cert.string();
  auto client = HttpClient::create(params);
  ASSERT_TRUE(client);
  HttpRequest request;
  request.url = server_->url("/hello", "localhost");
  auto response = (*client)->perform(request);
  ASSERT_FALSE(response);
  EXPECT_EQ(response.error().kind, HttpErrorKind::tls_error) << response.error().describe();
}

TEST_F(HttpsTest, VerifyFalseAcceptsIt) {
  HttpClientParams params;
  params.tls.verify = false;
  auto client = HttpClient::create(params);
  ASSERT_TRUE(client);
  HttpRequest request;
  request.url = server_->url("/hello", "localhost");
  auto response = (*client)->perform(request);
  ASSERT_TRUE(response) << response.error().describe();
  EXPECT_EQ(response->body, "hello over tls");
}

TEST_F(HttpsTest, BadCaFileFailsCreation) {
  HttpClientParams params;
  params.tls.ca_file = "/no/such/root.pem";
  auto client = HttpClient::create(params);
  ASSERT_FALSE(client);
  EXPECT_EQ(client.error().kind, HttpErrorKind::tls_error);
  EXPECT_NE(client.error().message.find("/no/such/root.pem"), std::string::npos);
}

} // namespace
} // namespace pv::net
