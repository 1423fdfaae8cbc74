// WebSocket client + server helper against each other on 127.0.0.1, over ws:// and wss://.

#include "net/io_thread.hpp"
#include "net/url.hpp"
#include "net/ws_client.hpp"
#include "net/ws_server.hpp"
#include "support/alloc_counter.hpp"
#include "support/tls_certs.hpp"
#include "ws_test_util.hpp"

#include <atomic>
#include <chrono>
#include <memory>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

namespace pv::net {
namespace {

using namespace std::chrono_literals;
using testing::ClientRecorder;
using testing::kWait;
using testing::pattern_bytes;
using testing::ServerRecorder;

class WsTest : public ::testing::TestWithParam<bool> {
protected:
  bool tls() const { return GetParam(); }

  void start_server(WsServerParams params = {}) {
    if (tls()) {
      params.tls.cert_file = certs_.server_cert.string();
      params.tls.key_file = certs_.server_key.string();
    }
    auto server = WsServer::create(server_io_.context(), params, srv_.handlers());
    ASSERT_TRUE(server) << server.error().describe();
    server_ = std::move(*server);
  }

  WsClientParams client_params(const std::string& target = "/chat") {
    WsClientParams params;
    params.url = server_->url(target);
    params.tls.ca_file = certs_.ca_cert.string();
    return params;
  }

  WsClient make_client(WsClientParams params, ClientRecorder& recorder) {
    auto client = WsClient::create(client_io_.context(), std::move(params), recorder.handlers());
    EXPECT_TRUE(client) << client.error().describe();
    return std::move(*client);
  }

  // Makes the server echo every message with its type.
  void echo_server() {
    srv_.on_message_hook = [](const WsConnectionPtr& connection, const WsMessageView& message) {
      if (message.binary) {
        connection->send_binary(message.data);
      } else {
        connection->send_text(message.text());
      }
    };
  }

  const pv::test::TlsTestCerts& certs_ = pv::test::shared_tls_certs();
  IoThread server_io_{"ws-server"};
  IoThread client_io_{"ws-client"};
  ServerRecorder srv_; // outlives server_ (declared before it)
  std::unique_ptr<WsServer> server_;
};

TEST_P(WsTest, EchoesBinaryMessagesOfManySizesInOrder) {
  echo_server();
  start_server();
  ClientRecorder rec;
  WsClient client = make_client(client_params(), rec);
  client.connect();
  ASSERT_TRUE(rec.wait_open()) << rec.close_reason().describe();
  EXPECT_EQ(rec.open_info().http_status, 101);
  EXPECT_EQ(rec.open_info().tls, tls());

  const std::vector<std::size_t> sizes = {0,      1,      2,        125,   126,   127,   1000,
                                          4095,   4096,   4097,     65535, 65536, 65537, 99999,
                                          262144, 524287, 1u << 20, 3,     0,     17};
  for (std::size_t i = 0; i < sizes.size(); ++i) {
    ASSERT_EQ(client.send_binary(pattern_bytes(sizes[i], static_cast<uint32_t>(i))),
              WsSendStatus::queued);
  }
  ASSERT_TRUE(rec.wait_messages(sizes.size())) << rec.messages().size();
  const auto echoed = rec.messages();
  ASSERT_EQ(echoed.size(), sizes.size());
  for (std::size_t i = 0; i < sizes.size(); ++i) {
    EXPECT_TRUE(echoed[i].binary);
    EXPECT_EQ(echoed[i].bytes, pattern_bytes(sizes[i], static_cast<uint32_t>(i)))
        << "message " << i << " of " << sizes[i] << " bytes";
  }
  EXPECT_TRUE(testing::eventually([&] { return client.queue_depth().messages == 0; }));
  EXPECT_EQ(client.counters().messages_sent, sizes.size());
  EXPECT_EQ(client.counters().messages_received, sizes.size());

  client.close(1000, "done");
  ASSERT_TRUE(rec.wait_close());
  const WsError reason = rec.close_reason();
  EXPECT_EQ(reason.kind, WsErrorKind::closed) << reason.describe();
  EXPECT_TRUE(reason.local);
  EXPECT_TRUE(reason.close_frame);
  EXPECT_EQ(reason.close_code, 1000);
  ASSERT_TRUE(srv_.wait_closes(1));
  const WsError server_side = srv_.closes()[0];
  EXPECT_EQ(server_side.kind, WsErrorKind::closed) << server_side.describe();
  EXPECT_TRUE(server_side.close_frame);
  EXPECT_EQ(server_side.close_code, 1000);
  EXPECT_EQ(server_side.close_reason, "done");
  EXPECT_EQ(rec.events().front(), "open");
  EXPECT_EQ(rec.events().back(), "close");
  EXPECT_EQ(rec.closes(), 1);
}

TEST_P(WsTest, TextAndBinaryKeepTheirType) {
  echo_server();
  start_server();
  ClientRecorder rec;
  WsClient client = make_client(client_params(), rec);
  client.connect();
  ASSERT_TRUE(rec.wait_open());
  client.send_text("hello \xe2\x96\x81 world");
  const std::vector<uint8_t> bytes = {0x01, 0x4f, 0x67, 0x67, 0x53};
  client.send_binary(std::span<const uint8_t>(bytes));
  ASSERT_TRUE(rec.wait_messages(2));
  const auto messages = rec.messages();
  EXPECT_FALSE(messages[0].binary);
  EXPECT_EQ(messages[0].text(), "hello \xe2\x96\x81 world");
  EXPECT_TRUE(messages[1].binary);
  EXPECT_EQ(messages[1].bytes, bytes);
}

TEST_P(WsTest, UpgradeCarriesTargetAndHeadersAndOffersNoCompression) {
  start_server();
  ClientRecorder rec;
  WsClientParams params = client_params("/api/chat?text_prompt=a%20b%2Bc&voice_prompt=NATF2.pt");
  params.headers.push_back({"X-Session-Key", "session-123"});
  WsClient client = make_client(params, rec);
  client.connect();
  ASSERT_TRUE(rec.wait_open());
  ASSERT_TRUE(srv_.wait_requests(1));
  const WsUpgradeRequest request = srv_.requests()[0];
  EXPECT_EQ(request.method, "GET");
  EXPECT_EQ(request.path(), "/api/chat");
  EXPECT_EQ(request.query(), "text_prompt=a%20b%2Bc&voice_prompt=NATF2.pt");
  EXPECT_EQ(query_param(request.query(), "text_prompt"), "a b+c");
  EXPECT_TRUE(request.websocket_upgrade);
  EXPECT_EQ(request.header("x-session-key"), "session-123");
  EXPECT_FALSE(request.header("Sec-WebSocket-Extensions").has_value());
  EXPECT_EQ(request.header("Host"), "127.0.0.1:" + std::to_string(server_->port()));
}

TEST_P(WsTest, ServerPingIsAnsweredWhileClientOnlyReads) {
  srv_.on_open_hook = [](const WsConnectionPtr& connection) {
    connection->ping("probe-1");
  };
  start_server();
  ClientRecorder rec;
  WsClient client = make_client(client_params(), rec);
  client.connect();
  ASSERT_TRUE(rec.wait_open());
  ASSERT_TRUE(srv_.wait_pongs(1));
  EXPECT_EQ(srv_.pongs()[0], "probe-1");
  EXPECT_EQ(client.counters().messages_sent, 0u); // the client never sent a message
  srv_.connection()->ping("probe-2");
  ASSERT_TRUE(srv_.wait_pongs(2));
  EXPECT_EQ(srv_.pongs()[1], "probe-2");
  EXPECT_EQ(rec.closes(), 0);
}

struct Rejection {
  int status;
  const char* retry_after; // nullptr = no header
};

TEST_P(WsTest, UpgradeRejectedWithStatusAndRetryAfter) {
  const Rejection cases[] = {{429, "7"}, {503, nullptr}, {400, nullptr}};
  std::atomic<int> next{0};
  srv_.decide = [&](const WsUpgradeRequest&) {
    const Rejection& r = cases[next.fetch_add(1)];
    Headers headers;
    if (r.retry_after != nullptr) {
      headers.push_back({"Retry-After", r.retry_after});
    }
    return WsUpgradeDecision::reject(r.status, headers, "rejected " + std::to_string(r.status));
  };
  start_server();
  for (const Rejection& r : cases) {
    ClientRecorder rec;
    WsClient client = make_client(client_params(), rec);
    client.connect();
    ASSERT_TRUE(rec.wait_close());
    const WsError reason = rec.close_reason();
    EXPECT_EQ(rec.opens(), 0);
    EXPECT_EQ(reason.kind, WsErrorKind::http_rejected) << reason.describe();
    EXPECT_EQ(reason.http_status, r.status);
    EXPECT_EQ(reason.retry_after, r.retry_after != nullptr ? r.retry_after : "");
    EXPECT_EQ(reason.response_body, "rejected " + std::to_string(r.status));
    EXPECT_NE(reason.message.find(std::to_string(r.status)), std::string::npos);
  }
}

TEST_P(WsTest, ConnectionRefusedWhenNothingListens) {
  ClientRecorder rec;
  WsClientParams params;
  params.url = std::string(tls() ? "wss" : "ws") +
               "://127.0.0.1:" + std::to_string(testing::unused_local_port()) + "/";
  WsClient client = make_client(params, rec);
  client.connect();
  ASSERT_TRUE(rec.wait_close());
  const WsError reason = rec.close_reason();
  EXPECT_EQ(reason.kind, WsErrorKind::connect_refused) << reason.describe();
  EXPECT_NE(reason.message.find("refused"), std::string::npos) << reason.message;
  EXPECT_EQ(rec.opens(), 0);
}

TEST_P(WsTest, UnresolvableHostIsConnectRefused) {
  ClientRecorder rec;
  WsClientParams params;
  params.url = std::string(tls() ? "wss" : "ws") + "://no-such-host.invalid:8998/";
  WsClient client = make_client(params, rec);
  client.connect();
  ASSERT_TRUE(rec.wait_close());
  const WsError reason = rec.close_reason();
  EXPECT_EQ(reason.kind, WsErrorKind::connect_refused) << reason.describe();
  EXPECT_NE(reason.message.find("resolve"), std::string::npos) << reason.message;
}

TEST_P(WsTest, AcceptThenTcpCloseWithoutCloseFrame) {
  srv_.on_open_hook = [](const WsConnectionPtr& connection) {
    connection->drop();
  };
  start_server();
  ClientRecorder rec;
  WsClient client = make_client(client_params(), rec);
  client.connect();
  ASSERT_TRUE(rec.wait_close());
  const WsError reason = rec.close_reason();
  EXPECT_EQ(rec.opens(), 1); // the upgrade succeeded (101) before the drop
  EXPECT_EQ(reason.kind, WsErrorKind::closed) << reason.describe();
  EXPECT_FALSE(reason.close_frame);
  EXPECT_FALSE(reason.local);
  EXPECT_EQ(reason.close_code, 1006);
}

TEST_P(WsTest, ServerCloseFrameIsReportedWithCodeAndReason) {
  srv_.on_open_hook = [](const WsConnectionPtr& connection) {
    connection->send_text("last words");
    connection->close(1000, "bye");
  };
  start_server();
  ClientRecorder rec;
  WsClient client = make_client(client_params(), rec);
  client.connect();
  ASSERT_TRUE(rec.wait_close());
  const WsError reason = rec.close_reason();
  EXPECT_EQ(reason.kind, WsErrorKind::closed) << reason.describe();
  EXPECT_TRUE(reason.close_frame);
  EXPECT_FALSE(reason.local);
  EXPECT_EQ(reason.close_code, 1000);
  EXPECT_EQ(reason.close_reason, "bye");
  ASSERT_EQ(rec.messages().size(), 1u); // queued data is sent before the Close frame
  EXPECT_EQ(rec.messages()[0].text(), "last words");
  EXPECT_EQ(client.send_text("too late"), WsSendStatus::closed);
}

TEST_P(WsTest, ServerThatNeverAnswersTheUpgradeTimesOut) {
  srv_.decide = [](const WsUpgradeRequest&) {
    return WsUpgradeDecision::ignore();
  };
  start_server();
  ClientRecorder rec;
  WsClientParams params = client_params();
  params.connect_timeout_ms = 300;
  WsClient client = make_client(params, rec);
  const auto start = std::chrono::steady_clock::now();
  client.connect();
  ASSERT_TRUE(rec.wait_close());
  const auto elapsed = std::chrono::steady_clock::now() - start;
  const WsError reason = rec.close_reason();
  EXPECT_EQ(reason.kind, WsErrorKind::timeout) << reason.describe();
  EXPECT_EQ(reason.timeout, WsTimeout::connect);
  EXPECT_NE(reason.message.find("WebSocket upgrade"), std::string::npos) << reason.message;
  EXPECT_GE(elapsed, 300ms); // never early; the upper bound is the generous wait above
  EXPECT_EQ(srv_.requests().size(), 1u);
}

TEST_P(WsTest, TcpConnectThatNeverCompletesTimesOut) {
  testing::BlackholeListener blackhole;
  ClientRecorder rec;
  WsClientParams params;
  params.url =
      std::string(tls() ? "wss" : "ws") + "://127.0.0.1:" + std::to_string(blackhole.port()) + "/";
  params.connect_timeout_ms = 300;
  WsClient client = make_client(params, rec);
  client.connect();
  ASSERT_TRUE(rec.wait_close());
  const WsError reason = rec.close_reason();
  EXPECT_EQ(reason.kind, WsErrorKind::timeout) << reason.describe();
  EXPECT_EQ(reason.timeout, WsTimeout::connect);
  EXPECT_NE(reason.message.find("TCP connect"), std::string::npos) << reason.message;
}

TEST_P(WsTest, StalledServerMakesTheSendQueueGrowThenDrainsInOrder) {
  srv_.on_open_hook = [](const WsConnectionPtr& connection) {
    connection->set_reading(false);
  };
  start_server();
  ClientRecorder rec;
  WsClient client = make_client(client_params(), rec);
  client.connect();
  ASSERT_TRUE(rec.wait_open());
  ASSERT_TRUE(srv_.wait_connections(1));

  // Keep sending until the kernel buffers are full and messages pile up in our queue.
  constexpr std::size_t kMessage = 256 * 1024;
  constexpr std::size_t kBacklog = 8;
  std::size_t sent = 0;
  while (sent < 1000) {
    ASSERT_EQ(client.send_binary(pattern_bytes(kMessage, static_cast<uint32_t>(sent))),
              WsSendStatus::queued);
    ++sent;
    // Give the writer a chance to move what the socket accepts, then look at the backlog.
    if (testing::eventually([&] { return client.queue_depth().messages >= kBacklog; }, 20ms)) {
      break;
    }
  }
  const WsQueueDepth depth = client.queue_depth();
  ASSERT_GE(depth.messages, kBacklog) << "sent " << sent;
  EXPECT_EQ(depth.bytes, depth.messages * kMessage);
  EXPECT_LT(client.counters().messages_sent, sent);

  // The server resumes: everything arrives, in order, nothing lost.
  srv_.connection()->set_reading(true);
  ASSERT_TRUE(srv_.wait_messages(sent));
  EXPECT_TRUE(testing::eventually([&] { return client.queue_depth().messages == 0; }));
  const auto received = srv_.messages();
  ASSERT_EQ(received.size(), sent);
  for (std::size_t i = 0; i < sent; ++i) {
    ASSERT_EQ(received[i].bytes, pattern_bytes(kMessage, static_cast<uint32_t>(i))) << i;
  }
  EXPECT_EQ(client.queue_depth().bytes, 0u);
}

TEST_P(WsTest, SteadySendsAllocateNothingOnTheSendersThread) {
  start_server();
  ClientRecorder rec;
  WsClient client = make_client(client_params(), rec);
  client.connect();
  ASSERT_TRUE(rec.wait_open());
  uint8_t seq = 0;
  auto send = [&] {
    auto buffer = client.take_buffer(); // recycled capacity once messages have been written
    buffer.assign(200, seq++);
    return client.send_binary(std::move(buffer));
  };
  // Paced sends: the writer catches up before the next one (waited for, not assumed from a fixed
  // sleep, so a loaded machine cannot empty the buffer pool and make the sender allocate).
  auto pace = [&] {
    while (client.queue_depth().messages != 0) {
      std::this_thread::sleep_for(200us);
    }
  };
  constexpr int kPaced = 200;
  constexpr int kBurst = 24; // back to back: they pile up between two drains
  constexpr int kWarmUp = 100 + kBurst;
  for (int i = 0; i < 100; ++i) {
    ASSERT_EQ(send(), WsSendStatus::queued);
    pace();
  }
  // kBurst buffers held at once, then sent back to back: once written, the pool (up to 32) holds
  // at least kBurst of them, whatever the writer's timing was.
  static_assert(kBurst <= 32);
  std::vector<std::vector<uint8_t>> held(kBurst);
  for (auto& buffer : held) {
    buffer = client.take_buffer();
    buffer.assign(200, seq++);
  }
  for (auto& buffer : held) {
    ASSERT_EQ(client.send_binary(std::move(buffer)), WsSendStatus::queued);
  }
  pace(); // written and recycled
  int queued = 0;
  pv::test::AllocationCount count;
  for (int i = 0; i < kPaced; ++i) {
    queued += send() == WsSendStatus::queued ? 1 : 0;
    pace();
  }
  for (int i = 0; i < kBurst; ++i) {
    queued += send() == WsSendStatus::queued ? 1 : 0;
  }
  const long allocations = count.stop();
  EXPECT_EQ(allocations, 0);
  EXPECT_EQ(queued, kPaced + kBurst);
  // Everything arrived, in order.
  constexpr std::size_t kTotal = kWarmUp + kPaced + kBurst;
  ASSERT_TRUE(srv_.wait_messages(kTotal));
  const auto received = srv_.messages();
  ASSERT_EQ(received.size(), kTotal);
  for (std::size_t i = 0; i < kTotal; ++i) {
    ASSERT_EQ(received[i].bytes, std::vector<uint8_t>(200, static_cast<uint8_t>(i))) << i;
  }
  EXPECT_TRUE(testing::eventually([&] { return client.queue_depth().bytes == 0; }));
}

TEST_P(WsTest, SendsFromSeveralThreadsKeepEachThreadsOrder) {
  start_server();
  ClientRecorder rec;
  WsClient client = make_client(client_params(), rec);
  client.connect();
  ASSERT_TRUE(rec.wait_open());
  constexpr int kThreads = 4;
  constexpr int kEach = 300;
  std::vector<std::thread> senders;
  std::atomic<int> rejected{0};
  for (int t = 0; t < kThreads; ++t) {
    senders.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        // [thread, sequence high byte, sequence low byte], padded to vary the sizes
        std::vector<uint8_t> message(3 + static_cast<std::size_t>(i % 50), 0);
        message[0] = static_cast<uint8_t>(t);
        message[1] = static_cast<uint8_t>(i >> 8);
        message[2] = static_cast<uint8_t>(i & 0xff);
        if (client.send_binary(std::move(message)) != WsSendStatus::queued) {
          ++rejected;
        }
      }
    });
  }
  for (auto& sender : senders) {
    sender.join();
  }
  EXPECT_EQ(rejected.load(), 0);
  ASSERT_TRUE(srv_.wait_messages(kThreads * kEach));
  std::vector<int> next(kThreads, 0);
  for (const auto& message : srv_.messages()) {
    ASSERT_GE(message.bytes.size(), 3u);
    const std::size_t t = message.bytes[0];
    ASSERT_LT(t, static_cast<std::size_t>(kThreads));
    EXPECT_EQ((message.bytes[1] << 8) | message.bytes[2], next[t]);
    EXPECT_EQ(message.bytes.size(), 3u + static_cast<std::size_t>(next[t] % 50));
    ++next[t];
  }
  EXPECT_EQ(next, std::vector<int>(kThreads, kEach));
  EXPECT_TRUE(testing::eventually([&] { return client.queue_depth().messages == 0; }));
  EXPECT_EQ(client.counters().messages_sent, static_cast<uint64_t>(kThreads * kEach));
}

TEST_P(WsTest, BoundedQueueRejectsWhenThePeerStalls) {
  srv_.on_open_hook = [](const WsConnectionPtr& connection) {
    connection->set_reading(false);
  };
  start_server();
  ClientRecorder rec;
  WsClientParams params = client_params();
  params.max_queued_bytes = 1u << 20;
  WsClient client = make_client(params, rec);
  client.connect();
  ASSERT_TRUE(rec.wait_open());
  std::size_t queued = 0;
  WsSendStatus status = WsSendStatus::queued;
  for (int i = 0; i < 2000 && status == WsSendStatus::queued; ++i) {
    status = client.send_binary(pattern_bytes(64 * 1024, 1));
    queued += status == WsSendStatus::queued ? 1 : 0;
    if (status == WsSendStatus::queued && i % 16 == 15) {
      std::this_thread::sleep_for(5ms); // let the writer drain what the socket accepts
    }
  }
  EXPECT_EQ(status, WsSendStatus::queue_full);
  EXPECT_LE(client.queue_depth().bytes, params.max_queued_bytes);
  EXPECT_GT(queued, 0u);
  EXPECT_EQ(rec.closes(), 0); // back-pressure is reported, not fatal
}

TEST_P(WsTest, CancelDuringConnectCompletesPromptly) {
  srv_.decide = [](const WsUpgradeRequest&) {
    return WsUpgradeDecision::ignore();
  };
  start_server();
  ClientRecorder rec;
  WsClientParams params = client_params();
  params.connect_timeout_ms = 120000;
  WsClient client = make_client(params, rec);
  client.connect();
  ASSERT_TRUE(srv_.wait_requests(1)); // the client is now waiting for the 101
  const auto start = std::chrono::steady_clock::now();
  client.cancel();
  ASSERT_TRUE(rec.wait_close());
  EXPECT_LT(std::chrono::steady_clock::now() - start, kWait);
  const WsError reason = rec.close_reason();
  EXPECT_EQ(reason.kind, WsErrorKind::cancelled) << reason.describe();
  EXPECT_EQ(rec.opens(), 0);
}

TEST_P(WsTest, CancelDuringActiveSessionCompletesPromptly) {
  echo_server();
  start_server();
  ClientRecorder rec;
  WsClient client = make_client(client_params(), rec);
  client.connect();
  ASSERT_TRUE(rec.wait_open());
  for (int i = 0; i < 50; ++i) {
    client.send_binary(pattern_bytes(4096, static_cast<uint32_t>(i)));
  }
  client.cancel();
  ASSERT_TRUE(rec.wait_close());
  EXPECT_EQ(rec.close_reason().kind, WsErrorKind::cancelled) << rec.close_reason().describe();
  EXPECT_EQ(client.queue_depth().messages, 0u); // unsent messages were released
  EXPECT_EQ(client.send_text("after"), WsSendStatus::closed);
  // The server sees the TCP connection end without a Close frame.
  ASSERT_TRUE(srv_.wait_closes(1));
  EXPECT_EQ(srv_.closes()[0].kind, WsErrorKind::closed);
  EXPECT_FALSE(srv_.closes()[0].close_frame);
  EXPECT_EQ(rec.closes(), 1);
}

TEST_P(WsTest, CloseDrainsQueuedMessagesFirst) {
  start_server();
  ClientRecorder rec;
  WsClient client = make_client(client_params(), rec);
  client.connect();
  ASSERT_TRUE(rec.wait_open());
  for (int i = 0; i < 100; ++i) {
    client.send_binary(pattern_bytes(1000 + static_cast<std::size_t>(i), static_cast<uint32_t>(i)));
  }
  client.close();
  EXPECT_EQ(client.send_text("after close"), WsSendStatus::closed);
  ASSERT_TRUE(rec.wait_close());
  EXPECT_EQ(rec.close_reason().kind, WsErrorKind::closed) << rec.close_reason().describe();
  ASSERT_TRUE(srv_.wait_closes(1));
  const auto received = srv_.messages();
  ASSERT_EQ(received.size(), 100u);
  for (int i = 0; i < 100; ++i) {
    EXPECT_EQ(received[static_cast<std::size_t>(i)].bytes,
              pattern_bytes(1000 + static_cast<std::size_t>(i), static_cast<uint32_t>(i)));
  }
  EXPECT_TRUE(srv_.closes()[0].close_frame);
  EXPECT_EQ(srv_.closes()[0].close_code, 1000);
}

TEST_P(WsTest, CloseHandshakeTimesOutWhenThePeerNeverAnswers) {
  srv_.on_open_hook = [](const WsConnectionPtr& connection) {
    connection->set_reading(false);
  };
  start_server();
  ClientRecorder rec;
  WsClientParams params = client_params();
  params.close_timeout_ms = 300;
  WsClient client = make_client(params, rec);
  client.connect();
  ASSERT_TRUE(rec.wait_open());
  client.close();
  ASSERT_TRUE(rec.wait_close());
  const WsError reason = rec.close_reason();
  EXPECT_EQ(reason.kind, WsErrorKind::timeout) << reason.describe();
  EXPECT_EQ(reason.timeout, WsTimeout::close);
}

TEST_P(WsTest, ServerDropsAClientThatNeverSendsItsRequest) {
  WsServerParams params;
  params.handshake_timeout_ms = 200;
  start_server(params);
  boost::asio::io_context io;
  boost::asio::ip::tcp::socket silent(io);
  silent.connect({boost::asio::ip::make_address("127.0.0.1"), server_->port()});
  ASSERT_TRUE(srv_.wait_closes(1));
  const WsError reason = srv_.closes()[0];
  EXPECT_EQ(reason.kind, WsErrorKind::timeout) << reason.describe();
  EXPECT_EQ(reason.timeout, WsTimeout::connect);
  EXPECT_EQ(srv_.connection(), nullptr);
  EXPECT_EQ(server_->accepted_count(), 1u);
}

TEST_P(WsTest, IdleTimeoutFiresWhenNoMessageArrivesAndCanBeDisarmed) {
  srv_.on_message_hook = [](const WsConnectionPtr& connection, const WsMessageView& message) {
    if (message.text() == "more") {
      connection->send_text("data");
    }
  };
  start_server();
  ClientRecorder rec;
  WsClient client = make_client(client_params(), rec);
  client.connect();
  ASSERT_TRUE(rec.wait_open());

  // Disarmed: nothing happens while the server is silent.
  client.set_idle_timeout(100ms);
  client.set_idle_timeout(0ms);
  EXPECT_FALSE(rec.wait_close(500ms));

  // Armed: messages keep the connection alive; silence ends it with an idle timeout.
  client.set_idle_timeout(3000ms);
  for (int i = 0; i < 20; ++i) {
    client.send_text("more");
    ASSERT_TRUE(rec.wait_messages(static_cast<std::size_t>(i) + 1));
  }
  EXPECT_EQ(rec.closes(), 0);
  client.set_idle_timeout(200ms); // re-arming restarts the clock with the new bound
  ASSERT_TRUE(rec.wait_close());
  const WsError reason = rec.close_reason();
  EXPECT_EQ(reason.kind, WsErrorKind::timeout) << reason.describe();
  EXPECT_EQ(reason.timeout, WsTimeout::idle);
  EXPECT_EQ(rec.messages().size(), 20u);
}

TEST_P(WsTest, OversizedIncomingMessageIsAReadError) {
  srv_.on_open_hook = [](const WsConnectionPtr& connection) {
    connection->send_binary(pattern_bytes(2048, 3));
  };
  start_server();
  ClientRecorder rec;
  WsClientParams params = client_params();
  params.max_message_bytes = 1024;
  WsClient client = make_client(params, rec);
  client.connect();
  ASSERT_TRUE(rec.wait_close());
  EXPECT_EQ(rec.close_reason().kind, WsErrorKind::read_error) << rec.close_reason().describe();
  EXPECT_NE(rec.close_reason().message.find("1024"), std::string::npos)
      << rec.close_reason().message;
  EXPECT_TRUE(rec.messages().empty());
}

TEST_P(WsTest, DestroyingClientsAtAnyPointIsSafeAndSilencesHandlers) {
  echo_server();
  start_server();
  std::atomic<int> late_calls{0};
  for (int round = 0; round < 40; ++round) {
    auto destroyed = std::make_shared<std::atomic<bool>>(false);
    WsClientHandlers handlers;
    handlers.on_open = [destroyed, &late_calls](const WsOpenInfo&) {
      late_calls += destroyed->load() ? 1 : 0;
    };
    handlers.on_message = [destroyed, &late_calls](const WsMessageView&) {
      late_calls += destroyed->load() ? 1 : 0;
    };
    handlers.on_close = [destroyed, &late_calls](const WsError&) {
      late_calls += destroyed->load() ? 1 : 0;
    };
    WsClientParams params = client_params();
    auto client = WsClient::create(client_io_.context(), params, handlers);
    ASSERT_TRUE(client);
    client->connect();
    for (int i = 0; i < round % 5; ++i) {
      client->send_binary(pattern_bytes(100, 1));
    }
    if (round % 3 == 1) {
      std::this_thread::sleep_for(std::chrono::milliseconds(round % 7)); // vary the phase
    }
    { auto doomed = std::move(*client); } // destroyed here, at an arbitrary point
    destroyed->store(true);
  }
  // Handlers may have been queued; give them time to (wrongly) run, then check.
  std::this_thread::sleep_for(200ms);
  EXPECT_EQ(late_calls.load(), 0);
  // Every server-side connection ends (nothing hangs).
  EXPECT_TRUE(testing::eventually([&] { return server_->connection_count() == 0; }));
}

TEST_P(WsTest, HandlerMayDestroyItsOwnClient) {
  echo_server();
  start_server();
  ClientRecorder rec;
  std::unique_ptr<WsClient> client;
  std::atomic<bool> destroyed{false};
  rec.on_message_hook = [&](const WsMessageView&) {
    client.reset(); // on the client strand, inside on_message
    destroyed = true;
  };
  auto created = WsClient::create(client_io_.context(), client_params(), rec.handlers());
  ASSERT_TRUE(created);
  client = std::make_unique<WsClient>(std::move(*created));
  client->connect();
  ASSERT_TRUE(rec.wait_open());
  client->send_text("x");
  ASSERT_TRUE(testing::eventually([&] { return destroyed.load(); }));
  ASSERT_TRUE(srv_.wait_closes(1)); // the session ended
  EXPECT_EQ(rec.closes(), 0);       // and on_close was silenced by the destruction
}

INSTANTIATE_TEST_SUITE_P(Transport, WsTest, ::testing::Values(false, true),
                         [](const ::testing::TestParamInfo<bool>& param_info) {
                           return param_info.param ? "wss" : "ws";
                         });

TEST(WsClientCreate, RejectsBadUrls) {
  IoThread io;
  for (const char* url :
       {"http://127.0.0.1/", "127.0.0.1:80", "ws://", "ws://host:99999/", "ws://host/pa th"}) {
    WsClientParams params;
    params.url = url;
    auto client = WsClient::create(io.context(), params, {});
    ASSERT_FALSE(client) << url;
    EXPECT_EQ(client.error().kind, WsErrorKind::invalid_argument) << url;
  }
}

TEST(WsServerCreate, ReportsAPortInUse) {
  IoThread io;
  auto first = WsServer::create(io.context(), {}, {});
  ASSERT_TRUE(first);
  WsServerParams params;
  params.port = (*first)->port();
  auto second = WsServer::create(io.context(), params, {});
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error().kind, WsErrorKind::connect_refused);
  EXPECT_NE(second.error().message.find(std::to_string(params.port)), std::string::npos);
}

} // namespace
} // namespace pv::net
