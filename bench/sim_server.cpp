// The PersonaPlex simulator under load: the server thread's CPU time per second of input audio
// when N sessions stream speech at once (flite utterances with pauses, so the model listens,
// replies and sends text, as in a conversation). Clients run on their own thread (not counted).
//
//   build-*/bench/bench_sim_server
//
// Counters: server_cpu_ms_per_audio_s (CPU of the simulator's one io thread per second of audio
// of one session) and sessions_per_core (how many real-time sessions one core sustains).

#include "sim/sim_server.hpp"
#include "audio/ogg_opus.hpp"
#include "audio/opus_codec.hpp"
#include "audio/resampler.hpp"
#include "cascade/tts/flite_tts.hpp"
#include "net/io_thread.hpp"
#include "net/ws_client.hpp"

#include <atomic>
#include <chrono>
#include <memory>
#include <stdexcept>
#include <thread>
#include <vector>

#include <benchmark/benchmark.h>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <pthread.h>
#include <time.h>

namespace {

using namespace std::chrono_literals;

constexpr int kAudioSeconds = 10;

// 10 s of conversation-like input as 20 ms Ogg Opus pages (BOS and tags first).
const std::vector<std::vector<uint8_t>>& input_pages() {
  static const std::vector<std::vector<uint8_t>> pages = [] {
    auto tts = pv::cascade::FliteTts::create({"kal16", 100});
    if (!tts) {
      throw std::runtime_error("flite");
    }
    pv::audio::PcmBuffer speech{16000, {}};
    pv::cascade::TtsRequest request;
    request.text = "tell me what the weather will be like tomorrow";
    (void)(*tts)->synthesize(request, [&](const pv::cascade::TtsChunk& chunk) {
      speech.samples.insert(speech.samples.end(), chunk.samples.begin(), chunk.samples.end());
    });
    auto speech24 = pv::audio::resample_clip(speech, 24000);
    std::vector<int16_t> pcm;
    while (pcm.size() < static_cast<std::size_t>(24000 * kAudioSeconds)) {
      pcm.insert(pcm.end(), speech24->samples.begin(), speech24->samples.end());
      pcm.insert(pcm.end(), 24000 * 2, 0); // a pause: the model answers
    }
    pcm.resize(24000 * kAudioSeconds);
    pv::audio::OggOpusWriter writer(pv::audio::standard_client_framing(99, 312));
    pv::audio::OpusEncoderParams params;
    params.voip = false;
    auto encoder = pv::audio::OpusEncoder::create(params);
    std::vector<std::vector<uint8_t>> out;
    auto message = [](const std::vector<uint8_t>& page) {
      std::vector<uint8_t> m{0x01};
      m.insert(m.end(), page.begin(), page.end());
      return m;
    };
    out.push_back(message(writer.head_page()));
    out.push_back(message(writer.tags_page()));
    std::vector<uint8_t> packet;
    std::vector<uint8_t> page;
    for (std::size_t at = 0; at + 480 <= pcm.size(); at += 480) {
      (void)encoder->encode(std::span<const int16_t>(pcm).subspan(at, 480), packet);
      writer.packet_page(packet, 480, page);
      out.push_back(message(page));
    }
    return out;
  }();
  return pages;
}

double thread_cpu_ms(pthread_t thread) {
  clockid_t clock{};
  pthread_getcpuclockid(thread, &clock);
  timespec ts{};
  clock_gettime(clock, &ts);
  return static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec) / 1e6;
}

void BM_SimConcurrentSessions(benchmark::State& state) {
  const int sessions = static_cast<int>(state.range(0));
  const auto& pages = input_pages();
  const std::size_t expected_audio_pages = static_cast<std::size_t>(kAudioSeconds) * 25 / 2;

  boost::asio::io_context server_io;
  auto guard = boost::asio::make_work_guard(server_io);
  std::thread server_thread([&] { server_io.run(); });
  pv::sim::SimParams params;
  params.port = 0;
  params.max_sessions = sessions;
  params.prompt_step_ms = 0;
  params.voices.default_frames = 0;
  auto server = pv::sim::SimServer::create(server_io, params);
  if (!server) {
    state.SkipWithError(server.error().message.c_str());
    guard.reset();
    server_thread.join();
    return;
  }

  double cpu_ms = 0;
  for (auto _ : state) {
    pv::net::IoThread client_io("bench-clients", 1);
    std::atomic<int> finished{0};
    std::vector<std::unique_ptr<std::atomic<std::size_t>>> audio(
        static_cast<std::size_t>(sessions));
    std::vector<pv::net::WsClient> clients;
    const double cpu_before = thread_cpu_ms(server_thread.native_handle());
    for (int i = 0; i < sessions; ++i) {
      auto& counter = audio[static_cast<std::size_t>(i)];
      counter = std::make_unique<std::atomic<std::size_t>>(0);
      pv::net::WsClientParams client_params;
      client_params.url = (*server)->url("/api/chat?text_prompt=Hi&voice_prompt=NATF0.pt");
      pv::net::WsClientHandlers handlers;
      handlers.on_message = [&, c = counter.get()](const pv::net::WsMessageView& m) {
        if (!m.data.empty() && m.data[0] == 0x01 &&
            c->fetch_add(1) + 1 == expected_audio_pages + 2) {
          finished.fetch_add(1);
          finished.notify_all();
        }
      };
      auto client = pv::net::WsClient::create(client_io.context(), client_params, handlers);
      if (!client) {
        state.SkipWithError(client.error().describe().c_str());
        return;
      }
      clients.push_back(std::move(*client));
      clients.back().connect();
    }
    // The handshake comes first; audio sent before it would be swallowed by the prompt phase.
    for (std::size_t i = 0; i < clients.size(); ++i) {
      const auto deadline = std::chrono::steady_clock::now() + 30s;
      while (audio[i]->load() < 2 && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(1ms);
      }
      for (const auto& page : pages) {
        clients[i].send_binary(std::span<const uint8_t>(page));
      }
    }
    const auto deadline = std::chrono::steady_clock::now() + 120s;
    while (finished.load() < sessions && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(1ms);
    }
    cpu_ms += thread_cpu_ms(server_thread.native_handle()) - cpu_before;
    if (finished.load() < sessions) {
      state.SkipWithError("not every session got all its pages");
    }
    for (auto& client : clients) {
      client.close();
    }
    clients.clear();
  }
  const double audio_s =
      static_cast<double>(sessions) * kAudioSeconds * static_cast<double>(state.iterations());
  state.counters["server_cpu_ms_per_audio_s"] = cpu_ms / audio_s;
  state.counters["sessions_per_core"] = 1000.0 / (cpu_ms / audio_s);
  (*server)->stop();
  server->reset();
  guard.reset();
  server_thread.join();
}

BENCHMARK(BM_SimConcurrentSessions)
    ->Arg(1)
    ->Arg(10)
    ->Arg(100)
    ->Iterations(1)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

} // namespace

BENCHMARK_MAIN();
