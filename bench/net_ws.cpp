// WebSocket client/server on loopback: round-trip latency of PersonaPlex-sized messages, the
// caller-side cost of send(), and bulk throughput; over ws:// and wss:// (TLS 1.3, test PKI).
//
//   build-*/bench/bench_net_ws --benchmark_min_time=2

#include "net/io_thread.hpp"
#include "net/tls.hpp"
#include "net/ws_client.hpp"
#include "net/ws_server.hpp"
#include "support/tls_certs.hpp"

#include <atomic>
#include <chrono>
#include <memory>
#include <stdexcept>
#include <vector>

#include <benchmark/benchmark.h>

namespace {

using namespace pv::net;

// An echo (or sink) server and a connected client on separate io threads.
class Loopback {
public:
  Loopback(bool tls, bool echo) {
    WsServerParams server_params;
    if (tls) {
      server_params.tls.cert_file = certs().server_cert.string();
      server_params.tls.key_file = certs().server_key.string();
    }
    WsServerHandlers handlers;
    handlers.on_message = [this, echo](const WsConnectionPtr& connection,
                                       const WsMessageView& message) {
      server_received_.fetch_add(1, std::memory_order_release);
      server_received_.notify_all();
      if (echo) {
        connection->send_binary(message.data);
      }
    };
    auto server = WsServer::create(server_io_.context(), server_params, handlers);
    if (!server) {
      throw std::runtime_error(server.error().describe());
    }
    server_ = std::move(*server);

    WsClientParams client_params;
    client_params.url = server_->url("/bench");
    client_params.tls.ca_file = certs().ca_cert.string();
    WsClientHandlers client_handlers;
    client_handlers.on_open = [this](const WsOpenInfo&) {
      opened_.store(1);
      opened_.notify_all();
    };
    client_handlers.on_message = [this](const WsMessageView&) {
      client_received_.fetch_add(1, std::memory_order_release);
      client_received_.notify_all();
    };
    client_handlers.on_close = [this](const WsError&) {
      opened_.store(2);
      opened_.notify_all();
    };
    auto client = WsClient::create(client_io_.context(), client_params, client_handlers);
    if (!client) {
      throw std::runtime_error(client.error().describe());
    }
    client_ = std::make_unique<WsClient>(std::move(*client));
    client_->connect();
    opened_.wait(0);
    if (opened_.load() != 1) {
      throw std::runtime_error("WebSocket did not open");
    }
  }

  ~Loopback() {
    client_.reset();
    server_.reset();
  }

  WsClient& client() { return *client_; }

  static void wait_for(std::atomic<uint64_t>& counter, uint64_t target) {
    for (uint64_t seen = counter.load(std::memory_order_acquire); seen < target;
         seen = counter.load(std::memory_order_acquire)) {
      counter.wait(seen);
    }
  }
  std::atomic<uint64_t> client_received_{0};
  std::atomic<uint64_t> server_received_{0};

private:
  static pv::test::TlsTestCerts& certs() {
    static pv::test::TlsTestCerts instance;
    return instance;
  }

  IoThread server_io_{"bench-server"};
  IoThread client_io_{"bench-client"};
  std::atomic<int> opened_{0};
  std::unique_ptr<WsServer> server_;
  std::unique_ptr<WsClient> client_;
};

// One 256-byte message (about one 80 ms Ogg Opus page) to the server and back.
void BM_WsRoundTrip(benchmark::State& state) {
  Loopback loop(state.range(0) != 0, true);
  const std::vector<uint8_t> message(static_cast<std::size_t>(state.range(1)), 0x5a);
  uint64_t expected = 0;
  for (auto _ : state) {
    loop.client().send_binary(std::span<const uint8_t>(message));
    Loopback::wait_for(loop.client_received_, ++expected);
  }
  state.SetLabel(state.range(0) != 0 ? "wss" : "ws");
}
BENCHMARK(BM_WsRoundTrip)->ArgsProduct({{0, 1}, {256}})->UseRealTime();

// What the caller pays for send() back to back: a pooled copy and an append to the session's
// send queue under a short mutex (a drain is posted only when the queue was empty; never waits).
void BM_WsSendCall(benchmark::State& state) {
  Loopback loop(false, false);
  const std::vector<uint8_t> message(256, 0x5a);
  uint64_t sent = 0;
  for (auto _ : state) {
    loop.client().send_binary(std::span<const uint8_t>(message));
    if (++sent % 256 == 0) {
      state.PauseTiming(); // let the queue drain so it does not grow without bound
      Loopback::wait_for(loop.server_received_, sent);
      state.ResumeTiming();
    }
  }
}
BENCHMARK(BM_WsSendCall);

// The same when every send finds the queue empty, as with one message per 20 ms frame from the
// room clock thread: each send also posts the drain (with the session's reused handler memory).
// Only the call is timed (manual time): waiting for the message to arrive is not.
void BM_WsSendCallIdleQueue(benchmark::State& state) {
  Loopback loop(false, false);
  const std::vector<uint8_t> message(256, 0x5a);
  uint64_t sent = 0;
  for (auto _ : state) {
    const auto start = std::chrono::steady_clock::now();
    loop.client().send_binary(std::span<const uint8_t>(message));
    const auto end = std::chrono::steady_clock::now();
    state.SetIterationTime(std::chrono::duration<double>(end - start).count());
    Loopback::wait_for(loop.server_received_, ++sent);
  }
}
BENCHMARK(BM_WsSendCallIdleQueue)->UseManualTime();

// Client → server bulk transfer of 64 KiB messages.
void BM_WsThroughput(benchmark::State& state) {
  Loopback loop(state.range(0) != 0, false);
  constexpr std::size_t kMessage = 64 * 1024;
  constexpr int kBatch = 64;
  const std::vector<uint8_t> message(kMessage, 0x33);
  uint64_t sent = 0;
  for (auto _ : state) {
    for (int i = 0; i < kBatch; ++i) {
      loop.client().send_binary(std::span<const uint8_t>(message));
    }
    sent += kBatch;
    Loopback::wait_for(loop.server_received_, sent);
  }
  state.SetBytesProcessed(static_cast<int64_t>(sent * kMessage));
  state.SetLabel(state.range(0) != 0 ? "wss" : "ws");
}
BENCHMARK(BM_WsThroughput)->Arg(0)->Arg(1)->UseRealTime();

// Connect (TCP [+ TLS] + upgrade) and close.
void BM_WsConnect(benchmark::State& state) {
  for (auto _ : state) {
    Loopback loop(state.range(0) != 0, false);
    benchmark::DoNotOptimize(&loop);
  }
  state.SetLabel(state.range(0) != 0 ? "wss (incl. server start)" : "ws (incl. server start)");
}
BENCHMARK(BM_WsConnect)->Arg(0)->Arg(1)->UseRealTime()->Unit(benchmark::kMillisecond);

// Building a client TLS context (system CAs [+ the test CA file]); share one across reconnects
// (WsClientParams::tls_context) when this matters.
void BM_TlsClientContext(benchmark::State& state) {
  static pv::test::TlsTestCerts certs;
  TlsClientParams params;
  if (state.range(0) == 1) {
    params.ca_file = certs.ca_cert.string();
  }
  params.verify = state.range(0) != 2;
  for (auto _ : state) {
    auto ctx = make_client_tls_context(params);
    benchmark::DoNotOptimize(ctx);
  }
  const char* labels[] = {"system CAs", "system CAs + CA file", "verify off"};
  state.SetLabel(labels[state.range(0)]);
}
BENCHMARK(BM_TlsClientContext)->Arg(0)->Arg(1)->Arg(2)->Unit(benchmark::kMicrosecond);

} // namespace

BENCHMARK_MAIN();
