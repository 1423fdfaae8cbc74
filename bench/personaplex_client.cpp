// Per-frame cost of the PersonaPlex client, on the room clock thread and on the network thread.
//
//   BM_SendFrame       ClientSession::send_frame_24k: Opus-encode 20 ms (24 kHz), wrap it in an
//                      Ogg page, post 0x01+page from a pooled buffer (a live session on the
//                      in-process simulator). Clock-thread cost.
//   BM_ReceivePage     ServerAudioDecoder::feed on the server's 80 ms pages (sphn framing):
//                      strict Ogg demux + Opus decode + 24k->48k resample + playout push.
//                      Network-thread cost; items = 20 ms frames (4 per page).
//   BM_DuplexTick      DuplexBackend::on_room_frame + fill_agent_frame for one 20 ms room frame
//                      with a live session: 48k->24k, encode+send, VAD (48k->16k), playout pull,
//                      level tracking. The whole clock-thread cost of duplex mode.
// Material: the speech-like signal of bench/audio_signals.hpp. Figures: docs/PERFORMANCE.md.

#include "audio_signals.hpp"

#include "audio/ogg_opus.hpp"
#include "audio/opus_codec.hpp"
#include "log/log.hpp"
#include "net/io_thread.hpp"
#include "personaplex/chat_request.hpp"
#include "personaplex/client_session.hpp"
#include "personaplex/duplex_backend.hpp"
#include "personaplex/server_audio.hpp"
#include "sim/sim_server.hpp"

#include <atomic>
#include <thread>

#include <benchmark/benchmark.h>

namespace {

using namespace pv;

std::unique_ptr<sim::SimServer> start_sim() {
  sim::SimParams params;
  params.port = 0;
  params.prompt_step_ms = 1;
  params.voices.default_frames = 4;
  params.max_sessions = 4;
  auto server = sim::SimServer::create(params);
  return server ? std::move(*server) : nullptr;
}

std::string chat_url(const sim::SimServer& server) {
  personaplex::ChatRequestParams params;
  params.endpoint = *personaplex::chat_endpoint(server.url("/"));
  params.voice_file = "NATF0.pt";
  params.prompt = personaplex::fixed_prompt_builder("You are a benchmark.");
  return personaplex::build_chat_request(params, {})->url;
}

bool wait_for(const std::function<bool()>& pred) {
  for (int i = 0; i < 2000 && !pred(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return pred();
}

void BM_SendFrame(benchmark::State& state) {
  log::init(config::LogSettings{"warn", config::LogFormat::text, ""}, {});
  auto server = start_sim();
  net::IoThread io("bench-pp");
  personaplex::SessionParams params;
  params.url = chat_url(*server);
  params.opus_complexity = static_cast<int>(state.range(0));
  params.max_queued_bytes = 0; // the simulator drains as fast as it can; never drop here
  params.no_audio_timeout_ms = 600000;
  auto session = *personaplex::ClientSession::create(io.context(), params);
  session->start();
  if (!wait_for([&] { return session->handshake_done(); })) {
    state.SkipWithError("no handshake from the simulator");
    return;
  }
  const auto voice = bench::voice_like(audio::kPersonaPlexRateHz, 10);
  std::size_t at = 0;
  int64_t dropped = 0;
  for (auto _ : state) {
    if (at + personaplex::kSendFrameSamples > voice.size()) {
      at = 0;
    }
    const auto result = session->send_frame_24k(std::span<const int16_t>(
        voice.data() + at, static_cast<std::size_t>(personaplex::kSendFrameSamples)));
    dropped += result != personaplex::ClientSession::SendResult::sent;
    at += personaplex::kSendFrameSamples;
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["dropped"] = static_cast<double>(dropped);
  session->close();
  wait_for([&] { return session->ended(); });
}
BENCHMARK(BM_SendFrame)->Arg(0)->Arg(5)->Arg(9)->Unit(benchmark::kMicrosecond);

// The server's stream for `seconds` of speech: OpusHead, OpusTags, then 80 ms pages.
std::vector<std::vector<uint8_t>> server_pages(int seconds) {
  auto encoder = *audio::OpusEncoder::create({24000, true, -1, 0}); // as the server: defaults
  audio::OggOpusWriter writer(audio::sphn_server_framing());
  std::vector<std::vector<uint8_t>> pages = {writer.head_page(), writer.tags_page()};
  const auto voice = bench::voice_like(audio::kPersonaPlexRateHz, seconds);
  std::vector<uint8_t> packet;
  for (std::size_t at = 0; at + 1920 <= voice.size(); at += 1920) {
    (void)encoder.encode(std::span<const int16_t>(voice.data() + at, 1920), packet);
    std::vector<uint8_t> page;
    writer.packet_page(packet, 1920, page);
    pages.push_back(std::move(page));
  }
  return pages;
}

void BM_ReceivePage(benchmark::State& state) {
  const auto pages = server_pages(60);
  audio::PlayoutBuffer playout(audio::PlayoutBufferParams{48000, 220, 120});
  std::vector<int16_t> drain(3840);
  auto decoder = std::make_unique<personaplex::ServerAudioDecoder>(
      *personaplex::ServerAudioDecoder::create(-50.0));
  std::size_t next = 0;
  for (auto _ : state) {
    if (next == pages.size()) { // a new stream (a new session) every 60 s of audio
      state.PauseTiming();
      decoder = std::make_unique<personaplex::ServerAudioDecoder>(
          *personaplex::ServerAudioDecoder::create(-50.0));
      next = 0;
      state.ResumeTiming();
    }
    auto decoded = decoder->feed(pages[next++], playout);
    benchmark::DoNotOptimize(decoded);
    playout.pull(drain); // the consumer's side, so the buffer stays in its steady state
  }
  state.SetItemsProcessed(state.iterations() * 4); // 20 ms frames
}
BENCHMARK(BM_ReceivePage)->Unit(benchmark::kMicrosecond);

class NullObserver : public conversation::BackendObserver {
public:
  void on_user_speech_start(int64_t) override {}
  void on_user_turn_end(uint64_t, int64_t) override {}
  void on_barge_in(uint64_t, int64_t, double) override {}
  void on_turn_complete(conversation::TurnReport) override {}
  void on_error(const conversation::BackendError&) override {}
};

void BM_DuplexTick(benchmark::State& state) {
  log::init(config::LogSettings{"warn", config::LogFormat::text, ""}, {});
  auto server = start_sim();
  personaplex::BackendOptions options;
  options.endpoint = *personaplex::chat_endpoint(server->url("/"));
  options.voice_file = "NATF0.pt";
  options.no_audio_timeout_ms = 600000;
  options.session_max_s = 86400;
  personaplex::DuplexBackend backend(options);
  NullObserver observer;
  std::atomic<int64_t> ticks{0};
  conversation::BackendContext context{&observer, [&] {
                                         return ticks.load() * 20;
                                       }};
  if (!backend.start(context)) {
    state.SkipWithError("backend did not start");
    return;
  }
  const auto voice = bench::voice_like_48k(10);
  audio::Frame in(audio::kRoomRateHz);
  audio::Frame out(audio::kRoomRateHz);
  // Warm up until the session streams (nothing is sent before the handshake) and the send
  // buffers are pooled.
  for (int i = 0; i < 2000 && (server->sessions().empty() || server->sessions()[0].steps < 25);
       ++i) {
    backend.on_room_frame(in);
    backend.fill_agent_frame(out);
    ticks.fetch_add(1);
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  std::size_t at = 0;
  for (auto _ : state) {
    if (at + 960 > voice.size()) {
      at = 0;
    }
    std::copy_n(voice.begin() + static_cast<std::ptrdiff_t>(at), 960, in.samples().begin());
    at += 960;
    backend.on_room_frame(in);
    out.clear_to_silence();
    backend.fill_agent_frame(out);
    ticks.fetch_add(1);
  }
  state.SetItemsProcessed(state.iterations());
  backend.stop();
}
BENCHMARK(BM_DuplexTick)->Unit(benchmark::kMicrosecond);

} // namespace

BENCHMARK_MAIN();
