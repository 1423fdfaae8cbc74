// The cascade's HTTP providers against local cpp-httplib servers speaking each API's wire format:
// what the client side costs per request and per streamed token/chunk (loopback, so the figures
// are our overhead, not a provider's).
//
//   build-*/bench/bench_cascade_http --benchmark_repetitions=5 --benchmark_report_aggregates_only

#include "audio/wav.hpp"
#include "cascade/http/http_support.hpp"
#include "cascade/llm/openai_llm.hpp"
#include "cascade/tts/google_tts.hpp"
#include "cascade/tts/openai_tts.hpp"
#include "support/local_http_server.hpp"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>
#include <nlohmann/json.hpp>
#include <openssl/evp.h>

namespace {

using namespace pv::cascade;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using nlohmann::json;

std::string token_event(const std::string& text) {
  return "data: " +
         json{{"id", "chatcmpl-bench"},
              {"object", "chat.completion.chunk"},
              {"created", 1718000000},
              {"model", "bench"},
              {"choices",
               json::array(
                   {{{"index", 0}, {"delta", {{"content", text}}}, {"finish_reason", nullptr}}})}}
             .dump() +
         "\n\n";
}
const std::string kFinish =
    "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\ndata: "
    "[DONE]\n\n";

LlmRequest llm_request() {
  LlmRequest r;
  r.messages = {{Role::system, "You are a co-host."}, {Role::user, "Say something."}};
  r.max_tokens = 64;
  return r;
}

std::string pcm_bytes(std::size_t samples) {
  std::string out(samples * 2, '\0');
  for (std::size_t i = 0; i < samples; ++i) {
    const auto v = static_cast<uint16_t>(i * 37);
    out[2 * i] = static_cast<char>(v & 0xFF);
    out[2 * i + 1] = static_cast<char>(v >> 8);
  }
  return out;
}

std::string base64(const void* data, std::size_t size) {
  std::string out(4 * ((size + 2) / 3) + 1, '\0');
  out.resize(static_cast<std::size_t>(EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                                      static_cast<const unsigned char*>(data),
                                                      static_cast<int>(size))));
  return out;
}

// The provider create() made, or null after marking the benchmark as failed.
template <class Provider>
std::unique_ptr<Provider> created(benchmark::State& state,
                                  tl::expected<std::unique_ptr<Provider>, ProviderError> made) {
  if (!made) {
    state.SkipWithError(made.error().message.c_str());
    return nullptr;
  }
  return std::move(*made);
}

std::unique_ptr<OpenAiLlm> openai_llm(benchmark::State& state,
                                      const pv::test::LocalHttpServer& server) {
  OpenAiLlmParams params;
  params.base_url = server.url("/v1");
  return created(state, OpenAiLlm::create(params));
}

// One sentence per iteration; the benchmark fails unless each delivers `samples` samples.
// Returns the mean time to the first chunk.
double synthesize_each_iteration(benchmark::State& state, TtsProvider& tts, std::size_t samples) {
  TtsRequest request;
  request.text = "A sentence of moderate length for the benchmark.";
  double first_chunk_ms = 0;
  for (auto _ : state) {
    std::size_t got = 0;
    auto result =
        tts.synthesize(request, [&](const TtsChunk& chunk) { got += chunk.samples.size(); });
    if (!result || got != samples) {
      state.SkipWithError("synthesize failed");
      break;
    }
    first_chunk_ms += result->first_chunk_ms;
  }
  return first_chunk_ms / static_cast<double>(std::max<int64_t>(1, state.iterations()));
}

// A whole reply of `tokens` tokens in one response (the server writes it at once): the cost of a
// request, from generate() to its return.
void BM_OpenAiLlmRequest(benchmark::State& state) {
  const int tokens = static_cast<int>(state.range(0));
  std::string body;
  for (int i = 0; i < tokens; ++i) {
    body += token_event(" word" + std::to_string(i));
  }
  body += kFinish;
  pv::test::LocalHttpServer server;
  server.http().Post("/v1/chat/completions", [&](const httplib::Request&, httplib::Response& res) {
    res.set_content(body, "text/event-stream");
  });
  server.start();
  auto llm = openai_llm(state, server);
  if (!llm) {
    return;
  }
  const LlmRequest request = llm_request();
  for (auto _ : state) {
    int pieces = 0;
    auto result = llm->generate(request, [&](std::string_view) {
      ++pieces;
      return true;
    });
    if (!result || pieces != tokens) {
      state.SkipWithError("generate failed");
      break;
    }
  }
  state.counters["tokens"] = tokens;
}
BENCHMARK(BM_OpenAiLlmRequest)->Arg(1)->Arg(50)->Unit(benchmark::kMicrosecond);

// Ping-pong: the server writes one token event, then waits until the sink has it before writing
// the next. Each latency is "server's write of the event" -> "sink called with its text": HTTP
// worker wake-up, hand-over to the caller's thread, SSE + JSON parsing.
void BM_OpenAiLlmTokenLatency(benchmark::State& state) {
  constexpr int kTokens = 20;
  std::mutex mutex;
  std::condition_variable cv;
  int received = 0;
  std::vector<Clock::time_point> written(kTokens);
  std::vector<double> latencies_us;
  pv::test::LocalHttpServer server;
  server.http().Post("/v1/chat/completions", [&](const httplib::Request&, httplib::Response& res) {
    {
      std::lock_guard lock(mutex);
      received = 0;
    }
    res.set_chunked_content_provider("text/event-stream", [&](size_t, httplib::DataSink& sink) {
      for (int i = 0; i < kTokens; ++i) {
        const std::string event = token_event(std::string("t").append(std::to_string(i)));
        {
          std::lock_guard lock(mutex);
          written[static_cast<std::size_t>(i)] = Clock::now();
        }
        sink.write(event.data(), event.size());
        std::unique_lock lock(mutex);
        if (!cv.wait_for(lock, 5s, [&] { return received > i; })) {
          return false;
        }
      }
      sink.write(kFinish.data(), kFinish.size());
      sink.done();
      return true;
    });
  });
  server.start();
  auto llm = openai_llm(state, server);
  if (!llm) {
    return;
  }
  const LlmRequest request = llm_request();
  for (auto _ : state) {
    auto result = llm->generate(request, [&](std::string_view) {
      const auto now = Clock::now();
      {
        std::lock_guard lock(mutex);
        latencies_us.push_back(std::chrono::duration<double, std::micro>(
                                   now - written[static_cast<std::size_t>(received)])
                                   .count());
        ++received;
      }
      cv.notify_all();
      return true;
    });
    if (!result || result->pieces != kTokens) {
      state.SkipWithError("generate failed");
      break;
    }
  }
  if (!latencies_us.empty()) {
    std::sort(latencies_us.begin(), latencies_us.end());
    double sum = 0;
    for (double v : latencies_us) {
      sum += v;
    }
    state.counters["token_us_mean"] = sum / static_cast<double>(latencies_us.size());
    state.counters["token_us_p50"] = latencies_us[latencies_us.size() / 2];
    state.counters["token_us_p99"] = latencies_us[latencies_us.size() * 99 / 100];
  }
}
BENCHMARK(BM_OpenAiLlmTokenLatency)->Unit(benchmark::kMicrosecond);

// One sentence of speech (`ms` of 24 kHz PCM) streamed in 20 ms network chunks.
void BM_OpenAiTtsSentence(benchmark::State& state) {
  const std::size_t samples = static_cast<std::size_t>(state.range(0)) * 24;
  const std::string audio = pcm_bytes(samples);
  pv::test::LocalHttpServer server;
  server.http().Post("/v1/audio/speech", [&](const httplib::Request&, httplib::Response& res) {
    res.set_chunked_content_provider("audio/pcm", [&](size_t, httplib::DataSink& sink) {
      for (std::size_t pos = 0; pos < audio.size(); pos += 960) {
        sink.write(audio.data() + pos, std::min<std::size_t>(960, audio.size() - pos));
      }
      sink.done();
      return true;
    });
  });
  server.start();
  OpenAiTtsParams params;
  params.base_url = server.url("/v1");
  if (auto tts = created(state, OpenAiTts::create(params))) {
    state.counters["first_chunk_ms"] = synthesize_each_iteration(state, *tts, samples);
  }
}
BENCHMARK(BM_OpenAiTtsSentence)->Arg(3000)->Unit(benchmark::kMicrosecond);

// Google's answer for a sentence: JSON with base64 of a WAV (3 s at 24 kHz = 192 KB of base64).
void BM_GoogleTtsSentence(benchmark::State& state) {
  pv::audio::PcmBuffer clip;
  clip.sample_rate = 24000;
  clip.samples.resize(static_cast<std::size_t>(state.range(0)) * 24);
  for (std::size_t i = 0; i < clip.samples.size(); ++i) {
    clip.samples[i] = static_cast<int16_t>((i * 37) & 0x7FFF);
  }
  const auto wav = pv::audio::encode_wav(clip);
  const std::string body = json{{"audioContent", base64(wav.data(), wav.size())}}.dump();
  pv::test::LocalHttpServer server;
  server.http().Post("/v1/text:synthesize", [&](const httplib::Request&, httplib::Response& res) {
    res.set_content(body, "application/json");
  });
  server.start();
  GoogleTtsParams params;
  params.base_url = server.url("");
  params.api_key = "bench-key-not-secret";
  if (auto tts = created(state, GoogleTts::create(params))) {
    synthesize_each_iteration(state, *tts, clip.samples.size());
  }
}
BENCHMARK(BM_GoogleTtsSentence)->Arg(3000)->Unit(benchmark::kMicrosecond);

// The decoding step alone (no network): base64 of a 3 s WAV.
void BM_Base64Decode3s(benchmark::State& state) {
  const std::string raw = pcm_bytes(72000);
  const std::string b64 = base64(raw.data(), raw.size());
  for (auto _ : state) {
    auto decoded = http::decode_base64(b64);
    benchmark::DoNotOptimize(decoded);
  }
}
BENCHMARK(BM_Base64Decode3s)->Unit(benchmark::kMicrosecond);

} // namespace

BENCHMARK_MAIN();
