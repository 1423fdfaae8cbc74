// The cascade pipeline's own overhead per turn: everything between the end of the user's turn and
// the first reply audio that is NOT the providers' own time.
//
// A real-time room clock (20 ms ticks from absolute deadlines) plays a flite utterance to the
// orchestrator; the embedded pocketsphinx (general English LM) transcribes it, the HTTP `openai`
// LLM provider streams the reply from a local OpenAI-compatible server (127.0.0.1, fixed time to
// first token, then the reply's tokens back to back), flite kal16 speaks it. Per turn:
//
//   parts     vad_wait (media), asr, llm_first_token, tts_first_chunk (wall), as reported by the
//             backend in its TurnReport;
//   overhead  (wall time from the end-of-turn decision to the first reply audio in the playout
//             buffer) - (asr + llm_first_token + tts_first_chunk): event hops between the worker
//             and the lanes, waiting for the first clause, resampling, the push;
//   on_wire   total (end of user speech -> first reply audio pulled by the room clock, media ms)
//             - (vad_wait + asr + llm_first_token + tts_first_chunk): the overhead plus the wait
//             for the next 20 ms tick (0-20 ms) and the 20 ms granularity of the media clock.
//
// After the first reply audio the turn is cut (set_speaking_allowed false/true) so that the next
// one can start; each turn takes ~3 s of real time.
//
//   PV_BENCH_TURNS=40 bench_cascade_pipeline --benchmark_counters_tabular=true

#include "audio/frame_clock.hpp"
#include "audio/resampler.hpp"
#include "cascade/asr/pocketsphinx_asr.hpp"
#include "cascade/llm/offline_responder.hpp"
#include "cascade/llm/openai_llm.hpp"
#include "cascade/orchestrator.hpp"
#include "cascade/tts/flite_tts.hpp"
#include "support/local_http_server.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <map>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <benchmark/benchmark.h>
#include <nlohmann/json.hpp>

namespace {

using namespace pv;
using namespace pv::cascade;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

const char* const kUserText = "what is the weather like today";
const char* const kReply = "Sunny and warm, a good day for a walk. What are your plans?";

double ms_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

// An OpenAI-compatible chat endpoint: waits `ttft`, then streams kReply word by word.
std::unique_ptr<pv::test::LocalHttpServer> start_llm_server(std::chrono::milliseconds ttft) {
  auto server = std::make_unique<pv::test::LocalHttpServer>();
  server->http().Post(
      "/v1/chat/completions", [ttft](const httplib::Request&, httplib::Response& res) {
        res.set_chunked_content_provider("text/event-stream", [ttft](std::size_t,
                                                                     httplib::DataSink& sink) {
          std::this_thread::sleep_for(ttft);
          const std::string text = kReply;
          std::size_t pos = 0;
          while (pos < text.size()) {
            std::size_t next = text.find(' ', pos + 1);
            if (next == std::string::npos) {
              next = text.size();
            }
            const nlohmann::json event = {{"choices",
                                           {{{"index", 0},
                                             {"delta", {{"content", text.substr(pos, next - pos)}}},
                                             {"finish_reason", nullptr}}}}};
            const std::string line = "data: " + event.dump() + "\n\n";
            sink.write(line.data(), line.size());
            pos = next;
          }
          const std::string end = "data: {\"choices\":[{\"index\":0,\"delta\":{},"
                                  "\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n";
          sink.write(end.data(), end.size());
          sink.done();
          return true;
        });
      });
  server->start();
  return server;
}

class Observer final : public conversation::BackendObserver {
public:
  void on_user_speech_start(int64_t) override {}
  void on_user_turn_end(uint64_t, int64_t speech_end_media_ms) override {
    std::lock_guard lock(mutex_);
    turn_end_at_ = Clock::now();
    speech_end_ms_ = speech_end_media_ms;
    turn_ended_ = true;
  }
  void on_barge_in(uint64_t, int64_t, double) override {}
  void on_turn_complete(conversation::TurnReport report) override {
    std::lock_guard lock(mutex_);
    report_ = std::move(report);
    reported_ = true;
  }
  void on_error(const conversation::BackendError& error) override {
    std::lock_guard lock(mutex_);
    errors_.push_back(error.message);
  }

  void reset() {
    std::lock_guard lock(mutex_);
    turn_ended_ = false;
    reported_ = false;
  }
  bool turn_ended() const {
    std::lock_guard lock(mutex_);
    return turn_ended_;
  }
  bool reported() const {
    std::lock_guard lock(mutex_);
    return reported_;
  }
  Clock::time_point turn_end_at() const {
    std::lock_guard lock(mutex_);
    return turn_end_at_;
  }
  int64_t speech_end_ms() const {
    std::lock_guard lock(mutex_);
    return speech_end_ms_;
  }
  conversation::TurnReport report() const {
    std::lock_guard lock(mutex_);
    return report_;
  }
  std::vector<std::string> errors() const {
    std::lock_guard lock(mutex_);
    return errors_;
  }

private:
  mutable std::mutex mutex_;
  bool turn_ended_ = false;
  bool reported_ = false;
  Clock::time_point turn_end_at_{};
  int64_t speech_end_ms_ = 0;
  conversation::TurnReport report_;
  std::vector<std::string> errors_;
};

// Turns per benchmark: PV_BENCH_TURNS (default 40).
int64_t turns_to_run() {
  const char* env = std::getenv("PV_BENCH_TURNS");
  const int64_t n = env != nullptr ? std::atoll(env) : 40;
  return n > 0 ? n : 40;
}

double percentile(std::vector<double> v, double p) {
  if (v.empty()) {
    return 0;
  }
  std::sort(v.begin(), v.end());
  const auto i = static_cast<std::size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

void run_turns(benchmark::State& state, std::shared_ptr<LlmProvider> llm) {
  auto asr = PocketsphinxAsr::create({});
  auto tts = FliteTts::create({});
  if (!asr || !tts) {
    state.SkipWithError("embedded providers unavailable");
    return;
  }
  OrchestratorParams params;
  params.opener_enabled = false;
  auto created =
      Orchestrator::create(params, {std::shared_ptr<AsrProvider>(std::move(*asr)), std::move(llm),
                                    std::shared_ptr<TtsProvider>(std::move(*tts))});
  if (!created) {
    state.SkipWithError(created.error().message.c_str());
    return;
  }
  Orchestrator& orchestrator = **created;
  Observer observer;
  std::atomic<int64_t> media_ms{0};
  conversation::BackendContext context{&observer, [&] {
                                         return media_ms.load();
                                       }};
  if (!orchestrator.start(context)) {
    state.SkipWithError("start failed");
    return;
  }

  // The user's voice, 48 kHz.
  audio::PcmBuffer spoken;
  TtsRequest request;
  request.text = kUserText;
  auto flite = FliteTts::create({});
  (void)(*flite)->synthesize(request, [&](const TtsChunk& c) {
    spoken.sample_rate = c.sample_rate_hz;
    spoken.samples.insert(spoken.samples.end(), c.samples.begin(), c.samples.end());
  });
  const auto speech = *audio::resample_clip(spoken, audio::kRoomRateHz);

  // Watches the state machine: the worker enters `speaking` when the first reply audio is in the
  // playout buffer.
  std::atomic<bool> polling{true};
  std::atomic<int64_t> speaking_at_ns{0};
  std::thread poller([&] {
    bool was = false;
    while (polling.load()) {
      const bool now = orchestrator.state() == OrchestratorState::speaking;
      if (now && !was) {
        speaking_at_ns.store(Clock::now().time_since_epoch().count());
      }
      was = now;
      std::this_thread::sleep_for(100us);
    }
  });

  audio::FrameClock clock(audio::SystemClock::instance());
  audio::Frame in(audio::kRoomRateHz);
  audio::Frame out(audio::kRoomRateHz);
  int64_t tick = 0;
  auto step = [&](const int16_t* samples) {
    clock.wait_next();
    media_ms.store(tick * audio::kFrameMs);
    if (samples != nullptr) {
      std::copy_n(samples, in.size(), in.samples().data());
    } else {
      in.clear_to_silence();
    }
    orchestrator.on_room_frame(in);
    out.clear_to_silence();
    orchestrator.fill_agent_frame(out);
    ++tick;
    return std::any_of(out.samples().begin(), out.samples().end(),
                       [](int16_t s) { return s != 0; });
  };

  std::map<std::string, std::vector<double>> series;
  int failed_turns = 0;
  for (auto _ : state) {
    observer.reset();
    speaking_at_ns.store(0);
    for (int i = 0; i < 15; ++i) {
      step(nullptr); // 300 ms of silence
    }
    for (std::size_t pos = 0; pos + 960 <= speech.samples.size(); pos += 960) {
      step(speech.samples.data() + pos);
    }
    int64_t first_audio_ms = -1;
    for (int i = 0; i < 500 && first_audio_ms < 0; ++i) { // up to 10 s
      const int64_t at = tick * audio::kFrameMs;
      if (step(nullptr) && observer.turn_ended()) {
        first_audio_ms = at;
      }
    }
    orchestrator.set_speaking_allowed(false); // cut the reply: next turn
    for (int i = 0; i < 250 && !(observer.reported() && orchestrator.idle()); ++i) {
      step(nullptr);
    }
    orchestrator.set_speaking_allowed(true);
    const auto report = observer.report();
    std::map<std::string, double> parts(report.latency_parts_ms.begin(),
                                        report.latency_parts_ms.end());
    if (first_audio_ms < 0 || !observer.reported() || parts.size() < 4 ||
        speaking_at_ns.load() == 0) {
      ++failed_turns;
      continue;
    }
    const double providers = parts["asr"] + parts["llm_first_token"] + parts["tts_first_chunk"];
    const auto speaking_at = Clock::time_point(Clock::duration(speaking_at_ns.load()));
    const double total = static_cast<double>(first_audio_ms - observer.speech_end_ms());
    series["total"].push_back(total);
    for (const auto& [name, ms] : parts) {
      series[name].push_back(ms);
    }
    series["overhead"].push_back(ms_between(observer.turn_end_at(), speaking_at) - providers);
    series["on_wire"].push_back(total - parts["vad_wait"] - providers);
  }
  polling.store(false);
  poller.join();
  orchestrator.stop();

  for (const auto& [name, values] : series) {
    state.counters[name + "_p50"] = percentile(values, 0.5);
    state.counters[name + "_p99"] = percentile(values, 0.99);
  }
  state.counters["turns"] = static_cast<double>(series["total"].size());
  state.counters["failed_turns"] = failed_turns;
  if (!observer.errors().empty()) {
    state.SkipWithError(("backend error: " + observer.errors().front()).c_str());
  }
}

// The HTTP `openai` provider against a local server with a fixed time to first token (ms).
void BM_CascadeTurn_OpenAiCompatibleServer(benchmark::State& state) {
  const auto ttft = std::chrono::milliseconds(state.range(0));
  auto server = start_llm_server(ttft);
  OpenAiLlmParams params;
  params.base_url = server->url("/v1");
  params.model = "bench";
  auto llm = OpenAiLlm::create(params);
  if (!llm) {
    state.SkipWithError(llm.error().message.c_str());
    return;
  }
  run_turns(state, std::shared_ptr<LlmProvider>(std::move(*llm)));
  state.counters["ttft_ms"] = static_cast<double>(ttft.count());
}
BENCHMARK(BM_CascadeTurn_OpenAiCompatibleServer)
    ->Arg(200)
    ->Iterations(turns_to_run())
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

// Everything embedded (the offline responder, no network).
void BM_CascadeTurn_Offline(benchmark::State& state) {
  run_turns(state, std::make_shared<OfflineResponder>());
}
BENCHMARK(BM_CascadeTurn_Offline)
    ->Iterations(turns_to_run())
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

} // namespace

// libwebrtc_audio_processing.so exports a `main`: every benchmark needs its own.
BENCHMARK_MAIN();
