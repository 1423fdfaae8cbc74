// Per-frame cost of the live resamplers (speexdsp q5, one 20 ms frame per iteration) and of the
// offline clip resampler (soxr HQ). The "xRT" counter is how many times faster than real time.

#include "audio/resampler.hpp"

#include "audio_signals.hpp"

#include <benchmark/benchmark.h>

namespace {

using namespace pv::audio;

void BM_StreamResampler20ms(benchmark::State& state) {
  int const in_rate = static_cast<int>(state.range(0));
  int const out_rate = static_cast<int>(state.range(1));
  auto rs = StreamResampler::create({in_rate, out_rate, 5});
  auto const signal = pv::bench::voice_like(in_rate, 1);
  auto const frame = static_cast<std::size_t>(samples_per_frame(in_rate));
  std::vector<int16_t> out;
  out.reserve(4 * static_cast<std::size_t>(samples_per_frame(out_rate)));
  std::size_t pos = 0;
  for (auto _ : state) {
    out.clear();
    rs->process(std::span<const int16_t>(signal).subspan(pos, frame), out);
    benchmark::DoNotOptimize(out.data());
    pos = (pos + frame) % signal.size();
  }
  state.counters["xRT"] = benchmark::Counter(0.020 * static_cast<double>(state.iterations()),
                                             benchmark::Counter::kIsRate);
  state.SetLabel(std::to_string(in_rate / 1000) + "k->" + std::to_string(out_rate / 1000) + "k");
}
BENCHMARK(BM_StreamResampler20ms)
    ->Args({48000, 16000})
    ->Args({16000, 24000})
    ->Args({48000, 24000})
    ->Args({24000, 48000})
    ->Args({16000, 48000});

void BM_FrameResampler48kTo16k(benchmark::State& state) {
  auto fr = FrameResampler::create({48000, 16000, 5});
  auto const signal = pv::bench::voice_like(48000, 1);
  Frame in(48000);
  Frame out;
  std::size_t pos = 0;
  for (auto _ : state) {
    std::copy_n(signal.begin() + static_cast<std::ptrdiff_t>(pos), 960, in.samples().begin());
    fr->push(in);
    while (fr->pop(out)) {
      benchmark::DoNotOptimize(out.samples().data());
    }
    pos = (pos + 960) % signal.size();
  }
}
BENCHMARK(BM_FrameResampler48kTo16k);

void BM_ResampleClip1s(benchmark::State& state) {
  int const in_rate = static_cast<int>(state.range(0));
  int const out_rate = static_cast<int>(state.range(1));
  PcmBuffer clip{in_rate, pv::bench::voice_like(in_rate, 1)};
  for (auto _ : state) {
    auto out = resample_clip(clip, out_rate);
    benchmark::DoNotOptimize(out->samples.data());
  }
  state.counters["xRT"] =
      benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_ResampleClip1s)
    ->Args({24000, 48000})
    ->Args({22050, 16000})
    ->Unit(benchmark::kMicrosecond);

} // namespace

BENCHMARK_MAIN();
