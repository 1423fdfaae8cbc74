// HTTP client (libcurl multi, one worker thread) against a local cpp-httplib server, and the
// SSE parser.
//
//   build-*/bench/bench_net_http --benchmark_min_time=2

#include "net/http_client.hpp"
#include "net/sse.hpp"
#include "support/local_http_server.hpp"

#include <atomic>
#include <future>
#include <stdexcept>
#include <string>

#include <benchmark/benchmark.h>

namespace {

using namespace pv::net;

class Server {
public:
  Server() {
    server_.http().Get("/small", [](const httplib::Request&, httplib::Response& res) {
      res.set_content("ok", "text/plain");
    });
    server_.http().Get("/stream", [](const httplib::Request&, httplib::Response& res) {
      res.set_chunked_content_provider("text/event-stream", [](size_t, httplib::DataSink& sink) {
        const std::string event = "data: {\"delta\":\"hello\"}\n\n";
        sink.write(event.data(), event.size());
        sink.done();
        return true;
      });
    });
    server_.start();
  }
  std::string url(const std::string& path) const { return server_.url(path); }

private:
  pv::test::LocalHttpServer server_;
};

std::unique_ptr<HttpClient> make_client() {
  auto client = HttpClient::create({});
  if (!client) {
    throw std::runtime_error(client.error().describe());
  }
  return std::move(*client);
}

// Sequential GETs over one keep-alive connection (blocking perform()).
void BM_HttpGetKeepAlive(benchmark::State& state) {
  Server server;
  auto client = make_client();
  HttpRequest request;
  request.url = server.url("/small");
  for (auto _ : state) {
    auto response = client->perform(request);
    if (!response || response->body != "ok") {
      state.SkipWithError("request failed");
      break;
    }
  }
}
BENCHMARK(BM_HttpGetKeepAlive)->UseRealTime();

// start() → first SSE chunk delivered to on_chunk (keep-alive connection).
void BM_HttpStreamFirstChunk(benchmark::State& state) {
  Server server;
  auto client = make_client();
  HttpRequest request;
  request.url = server.url("/stream");
  for (auto _ : state) {
    std::promise<void> first;
    std::atomic<bool> seen{false};
    std::promise<void> done;
    HttpStreamHandlers handlers;
    handlers.on_chunk = [&](std::string_view) {
      if (!seen.exchange(true)) {
        first.set_value();
      }
      return true;
    };
    handlers.on_complete = [&](const HttpResult&) {
      done.set_value();
    };
    client->start(request, handlers);
    first.get_future().wait();
    state.PauseTiming();
    done.get_future().wait();
    state.ResumeTiming();
  }
}
BENCHMARK(BM_HttpStreamFirstChunk)->UseRealTime();

// An OpenAI-style token stream fed in 1400-byte network-sized pieces.
void BM_SseParse(benchmark::State& state) {
  std::string stream;
  for (int i = 0; i < 2000; ++i) {
    stream += "data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"choices\":[{"
              "\"index\":0,\"delta\":{\"content\":\" token" +
              std::to_string(i) + "\"}}]}\r\n\r\n";
  }
  uint64_t events = 0;
  for (auto _ : state) {
    SseParser parser([&](const SseEvent& event) { events += event.data.size() > 0 ? 1 : 0; });
    for (std::size_t pos = 0; pos < stream.size(); pos += 1400) {
      benchmark::DoNotOptimize(parser.feed(std::string_view(stream).substr(pos, 1400)));
    }
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) *
                          static_cast<int64_t>(stream.size()));
  state.counters["events"] =
      benchmark::Counter(static_cast<double>(events), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_SseParse);

} // namespace

BENCHMARK_MAIN();
