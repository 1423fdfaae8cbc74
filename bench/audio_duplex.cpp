// The full-duplex "codec floor" per 20 ms tick of the PersonaPlex path, as the clock thread would
// run it: room frame 48k -> 24k, Opus encode (+ Ogg page), and for the reply Opus decode and
// 24k -> 48k. Everything a tick costs before any network or model work.

#include "audio/ogg_opus.hpp"
#include "audio/resampler.hpp"

#include "audio_signals.hpp"

#include <benchmark/benchmark.h>

namespace {

using namespace pv::audio;

void BM_DuplexCodecFloor(benchmark::State& state) {
  int const complexity = static_cast<int>(state.range(0));
  auto down = FrameResampler::create({48000, 24000, 5});
  auto up = StreamResampler::create({24000, 48000, 5});
  auto enc = OpusEncoder::create({24000, true, complexity, 0});
  auto dec = OpusDecoder::create(24000);
  OggOpusWriter writer(standard_client_framing(1, 312));
  writer.head_page();
  writer.tags_page();
  auto const room = pv::bench::voice_like(48000, 2);

  Frame in(48000);
  Frame in24;
  std::vector<uint8_t> packet;
  std::vector<uint8_t> page;
  std::vector<int16_t> reply24;
  std::vector<int16_t> reply48;
  packet.reserve(4000);
  page.reserve(4096);
  reply24.reserve(960);
  reply48.reserve(2048);
  std::size_t pos = 0;
  for (auto _ : state) {
    std::copy_n(room.begin() + static_cast<std::ptrdiff_t>(pos), 960, in.samples().begin());
    pos = (pos + 960) % room.size();
    down->push(in);
    if (down->pop(in24)) {
      (void)enc->encode(in24.samples(), packet);
      writer.packet_page(packet, 480, page);
      // Loop the packet back as the "reply" (the server's reply costs the same to decode).
      reply24.clear();
      (void)dec->decode(packet, reply24);
      reply48.clear();
      up->process(reply24, reply48);
      benchmark::DoNotOptimize(reply48.data());
    }
  }
  state.SetLabel("complexity " + std::to_string(complexity));
}
BENCHMARK(BM_DuplexCodecFloor)->Arg(0)->Arg(5)->Arg(9)->Unit(benchmark::kMicrosecond);

} // namespace

BENCHMARK_MAIN();
