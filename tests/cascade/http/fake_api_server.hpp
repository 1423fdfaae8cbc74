#pragma once
// Test doubles for the paid speech/LLM APIs, built on a real cpp-httplib server on 127.0.0.1:0:
// each test registers a handler that answers with that API's real wire format (SSE framing,
// JSON shapes, headers, raw or base64 audio), written in chunks with pauses or gates where
// streaming matters. Helpers here record what the server received and capture log output.

#include "support/local_http_server.hpp"

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

namespace pv::cascade::testing {

using namespace std::chrono_literals;

// Bound on every wait in these tests: reached only when something is broken.
inline constexpr std::chrono::milliseconds kWait{10000};

struct RecordedRequest {
  std::string method;
  std::string path;
  std::string query;        // raw target after '?', if any
  httplib::Headers headers; // case-insensitive names
  std::string body;
  httplib::MultipartFormDataMap files; // multipart parts

  bool has_header(const std::string& name) const { return headers.count(name) != 0; }
  std::string header(const std::string& name) const {
    const auto it = headers.find(name);
    return it == headers.end() ? std::string() : it->second;
  }
  nlohmann::json json() const { return nlohmann::json::parse(body, nullptr, false); }
};

// Thread-safe record of the requests a server handled.
class RequestLog {
public:
  void add(const httplib::Request& req) {
    RecordedRequest r;
    r.method = req.method;
    r.path = req.path;
    const auto q = req.target.find('?');
    if (q != std::string::npos) {
      r.query = req.target.substr(q + 1);
    }
    r.headers = req.headers;
    r.body = req.body;
    r.files = req.files;
    std::lock_guard lock(mutex_);
    requests_.push_back(std::move(r));
  }
  std::size_t count() const {
    std::lock_guard lock(mutex_);
    return requests_.size();
  }
  RecordedRequest last() const {
    std::lock_guard lock(mutex_);
    return requests_.empty() ? RecordedRequest{} : requests_.back();
  }

private:
  mutable std::mutex mutex_;
  std::vector<RecordedRequest> requests_;
};

// Routes every spdlog message (all levels) to a string while alive.
class LogCapture {
public:
  LogCapture() : previous_(spdlog::default_logger()) {
    auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(stream_);
    auto logger = std::make_shared<spdlog::logger>("capture", sink);
    logger->set_level(spdlog::level::trace);
    spdlog::set_default_logger(logger);
  }
  ~LogCapture() { spdlog::set_default_logger(previous_); }
  LogCapture(const LogCapture&) = delete;
  LogCapture& operator=(const LogCapture&) = delete;
  std::string text() const { return stream_.str(); }

private:
  std::ostringstream stream_;
  std::shared_ptr<spdlog::logger> previous_;
};

inline bool write_text(httplib::DataSink& sink, const std::string& text) {
  return sink.write(text.data(), text.size());
}

// One SSE event as the APIs frame them: optional "event:" line, one "data:" line, blank line.
inline std::string sse(const std::string& data, const std::string& event_type = "") {
  std::string out;
  if (!event_type.empty()) {
    out += "event: " + event_type + "\n";
  }
  out += "data: " + data + "\n\n";
  return out;
}

// Waits for a Gate; a test that gets false here fails instead of hanging.
inline bool wait_gate(pv::test::Gate& gate) {
  return gate.wait_for(kWait);
}

} // namespace pv::cascade::testing

namespace pv::cascade::testing {

// Mono s16 samples as little-endian bytes (the APIs' raw PCM).
inline std::string pcm_bytes(const std::vector<int16_t>& samples) {
  std::string out;
  out.reserve(samples.size() * 2);
  for (int16_t s : samples) {
    const auto u = static_cast<uint16_t>(s);
    out.push_back(static_cast<char>(u & 0xFF));
    out.push_back(static_cast<char>(u >> 8));
  }
  return out;
}

} // namespace pv::cascade::testing

#include "cascade/cancel.hpp"
#include "cascade/llm/llm_provider.hpp"
#include "cascade/tts/tts_provider.hpp"

#include <functional>
#include <optional>
#include <thread>

namespace pv::cascade::testing {

// What every provider test shares: a fake API server with one POST endpoint, the log of what it
// received, and a gate that stalled handlers wait on (opened in TearDown, so no handler outlives
// the test).
class FakeApiTest : public ::testing::Test {
protected:
  using Handler = std::function<void(const httplib::Request&, httplib::Response&)>;

  void TearDown() override {
    release_.open();
    server_.stop();
  }

  // Registers `handler` for POST `path` (recording every request) and starts the server.
  void serve_post(const std::string& path, Handler handler) {
    server_.http().Post(path, [this, handler](const httplib::Request& req, httplib::Response& res) {
      log_.add(req);
      handler(req, res);
    });
    server_.start();
  }

  pv::test::Gate release_;
  pv::test::LocalHttpServer server_;
  RequestLog log_;
};

// The provider a create() made, or null after failing the test with the error.
template <class Provider>
std::unique_ptr<Provider> created(tl::expected<std::unique_ptr<Provider>, ProviderError> made) {
  EXPECT_TRUE(made) << made.error().message;
  return made ? std::move(*made) : nullptr;
}

// Cancels from another thread once `trigger` opens (a bounded wait) and notes when, so a test can
// bound how long the provider took to return after the cancellation.
class CancelOnGate {
public:
  using TimePoint = std::chrono::steady_clock::time_point;

  explicit CancelOnGate(pv::test::Gate& trigger)
      : thread_([this, &trigger] {
          if (trigger.wait_for(kWait)) {
            cancelled_at_ = std::chrono::steady_clock::now();
            source_.cancel();
          }
        }) {}
  ~CancelOnGate() { join(); }
  CancelOnGate(const CancelOnGate&) = delete;
  CancelOnGate& operator=(const CancelOnGate&) = delete;

  CancelToken token() const { return source_.token(); }
  // Waits for the thread; when it cancelled (nullopt: the trigger never opened).
  std::optional<TimePoint> join() {
    if (thread_.joinable()) {
      thread_.join();
    }
    return cancelled_at_;
  }

private:
  CancelSource source_;
  std::optional<TimePoint> cancelled_at_;
  std::thread thread_; // last: starts once the members it uses exist
};

// A four-message conversation with generous deadlines.
inline LlmRequest llm_request() {
  LlmRequest r;
  r.messages = {{Role::system, "You are a co-host."},
                {Role::user, "Hi there"},
                {Role::assistant, "Hello!"},
                {Role::user, "Tell me a joke"}};
  r.max_tokens = 64;
  r.first_token_timeout = 5000ms;
  r.total_timeout = 10000ms;
  return r;
}

inline TtsRequest tts_request(const std::string& text) {
  TtsRequest r;
  r.text = text;
  r.timeout = 10000ms;
  return r;
}

// Records what a TTS sink receives (on the synthesize() caller's thread).
struct TtsRecorder {
  struct Chunk {
    int rate = 0;
    std::size_t samples = 0;
    bool last = false;
  };
  std::vector<Chunk> chunks;
  std::vector<int16_t> samples;
  std::function<void(const TtsRecorder&)> after_chunk; // optional hook

  TtsChunkSink sink() {
    return [this](const TtsChunk& chunk) {
      chunks.push_back({chunk.sample_rate_hz, chunk.samples.size(), chunk.last});
      samples.insert(samples.end(), chunk.samples.begin(), chunk.samples.end());
      if (after_chunk) {
        after_chunk(*this);
      }
    };
  }
  // Every chunk carries `rate`; exactly the final chunk is flagged last.
  ::testing::AssertionResult well_formed(int rate) const {
    if (chunks.empty()) {
      return ::testing::AssertionFailure() << "no chunks";
    }
    for (std::size_t i = 0; i < chunks.size(); ++i) {
      if (chunks[i].rate != rate) {
        return ::testing::AssertionFailure()
               << "chunk " << i << " tagged " << chunks[i].rate << " Hz, expected " << rate;
      }
      if (chunks[i].last != (i + 1 == chunks.size())) {
        return ::testing::AssertionFailure() << "chunk " << i << " has the wrong `last` flag";
      }
    }
    return ::testing::AssertionSuccess();
  }
};

} // namespace pv::cascade::testing
