// Clock-thread side costs per 20 ms at 48 kHz: PlayoutBuffer push + pull, and mixing two sources.

#include "audio/mixer.hpp"
#include "audio/playout_buffer.hpp"

#include "audio_signals.hpp"

#include <benchmark/benchmark.h>

namespace {

using namespace pv::audio;

void BM_PlayoutPushPull20ms(benchmark::State& state) {
  PlayoutBuffer buffer({48000, 200, 0});
  auto const signal = pv::bench::voice_like(48000, 1);
  std::vector<int16_t> out(960);
  std::size_t pos = 0;
  for (auto _ : state) {
    buffer.push(std::span<const int16_t>(signal).subspan(pos, 960));
    benchmark::DoNotOptimize(buffer.pull(out));
    pos = (pos + 960) % signal.size();
  }
}
BENCHMARK(BM_PlayoutPushPull20ms);

void BM_MixTwoSources20ms(benchmark::State& state) {
  Mixer mixer(48000);
  auto const a = pv::bench::voice_like(48000, 1);
  std::size_t pos = 0;
  for (auto _ : state) {
    mixer.begin(960);
    mixer.add(std::span<const int16_t>(a).subspan(pos, 960));
    mixer.add(std::span<const int16_t>(a).subspan((pos + 4800) % a.size(), 960), 0.5f);
    benchmark::DoNotOptimize(mixer.result().data());
    benchmark::DoNotOptimize(rms_dbfs(mixer.result()));
    pos = (pos + 960) % a.size();
  }
}
BENCHMARK(BM_MixTwoSources20ms);

} // namespace

BENCHMARK_MAIN();
