// Opus encode and decode cost: 20 ms at 24 kHz (our client's packets) at complexities 0, 5 and 9,
// and the 80 ms packet the PersonaPlex server sends (libopus default complexity, VOIP).

#include "audio/opus_codec.hpp"

#include "audio_signals.hpp"

#include <benchmark/benchmark.h>

namespace {

using namespace pv::audio;

constexpr int kRate = 24000;

void BM_OpusEncode(benchmark::State& state) {
  int const frame = static_cast<int>(state.range(0));
  int const complexity = static_cast<int>(state.range(1));
  auto enc = OpusEncoder::create({kRate, true, complexity, 0});
  auto const signal = pv::bench::voice_like(kRate, 2);
  std::vector<uint8_t> packet;
  std::vector<std::vector<uint8_t>> first_pass; // the packets of one pass over the material
  std::size_t pos = 0;
  std::size_t bytes = 0;
  for (auto _ : state) {
    auto ok = enc->encode(
        std::span<const int16_t>(signal).subspan(pos, static_cast<std::size_t>(frame)), packet);
    benchmark::DoNotOptimize(ok);
    bytes += packet.size();
    if (first_pass.size() < signal.size() / static_cast<std::size_t>(frame)) {
      first_pass.push_back(packet);
    }
    pos = (pos + static_cast<std::size_t>(frame)) % signal.size();
  }
  double const seconds = static_cast<double>(state.iterations()) * frame / kRate;
  state.counters["kbps"] = static_cast<double>(bytes) * 8.0 / seconds / 1000.0;
  state.SetLabel(std::to_string(frame * 1000 / kRate) + " ms, complexity " +
                 (complexity < 0 ? std::string("default") : std::to_string(complexity)) + ", " +
                 pv::bench::mode_mix(first_pass));
}
BENCHMARK(BM_OpusEncode)
    ->Args({480, 0})
    ->Args({480, 5})
    ->Args({480, 9})
    ->Args({1920, -1}); // the server's 80 ms packet

void BM_OpusDecode(benchmark::State& state) {
  int const frame = static_cast<int>(state.range(0));
  int const complexity = static_cast<int>(state.range(1));
  auto enc = OpusEncoder::create({kRate, true, complexity, 0});
  auto dec = OpusDecoder::create(kRate);
  auto const signal = pv::bench::voice_like(kRate, 2);
  std::vector<std::vector<uint8_t>> packets;
  for (std::size_t pos = 0; pos + static_cast<std::size_t>(frame) <= signal.size();
       pos += static_cast<std::size_t>(frame)) {
    packets.emplace_back();
    (void)enc->encode(
        std::span<const int16_t>(signal).subspan(pos, static_cast<std::size_t>(frame)),
        packets.back());
  }
  std::vector<int16_t> pcm;
  pcm.reserve(5760);
  std::size_t i = 0;
  for (auto _ : state) {
    pcm.clear();
    auto n = dec->decode(packets[i], pcm);
    benchmark::DoNotOptimize(n);
    i = (i + 1) % packets.size();
  }
  state.SetLabel(std::to_string(frame * 1000 / kRate) + " ms, encoded at complexity " +
                 (complexity < 0 ? std::string("default") : std::to_string(complexity)) + ", " +
                 pv::bench::mode_mix(packets));
}
BENCHMARK(BM_OpusDecode)->Args({480, 0})->Args({480, 5})->Args({480, 9})->Args({1920, -1});

} // namespace

BENCHMARK_MAIN();
