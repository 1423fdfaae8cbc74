// Ogg framing cost: mux (one page per packet, as our client sends) and demux (+ decode) of the
// server's 80 ms pages, fed one page per call as WebSocket messages arrive.

#include "audio/ogg_opus.hpp"

#include "audio_signals.hpp"

#include <benchmark/benchmark.h>

#include <optional>

namespace {

using namespace pv::audio;

std::vector<std::vector<uint8_t>> encode_packets(int frame, int complexity, int seconds) {
  auto enc = OpusEncoder::create({24000, true, complexity, 0});
  auto const signal = pv::bench::voice_like(24000, seconds);
  std::vector<std::vector<uint8_t>> packets;
  for (std::size_t pos = 0; pos + static_cast<std::size_t>(frame) <= signal.size();
       pos += static_cast<std::size_t>(frame)) {
    packets.emplace_back();
    (void)enc->encode(
        std::span<const int16_t>(signal).subspan(pos, static_cast<std::size_t>(frame)),
        packets.back());
  }
  return packets;
}

void BM_OggMuxPagePerPacket(benchmark::State& state) {
  auto const packets = encode_packets(480, 5, 2);
  OggOpusWriter writer(standard_client_framing(1, 312));
  writer.head_page();
  writer.tags_page();
  std::vector<uint8_t> page;
  page.reserve(2048);
  std::size_t i = 0;
  for (auto _ : state) {
    writer.packet_page(packets[i], 480, page);
    benchmark::DoNotOptimize(page.data());
    i = (i + 1) % packets.size();
  }
}
BENCHMARK(BM_OggMuxPagePerPacket);

// The server's stream: header pages, then 80 ms pages. The reader is fed page by page; when the
// stream is used up a fresh reader starts on it again (outside the timed region).
void demux(benchmark::State& state, bool decode) {
  auto const packets = encode_packets(1920, -1, 8);
  OggOpusWriter writer(sphn_server_framing());
  std::vector<std::vector<uint8_t>> pages = {writer.head_page(), writer.tags_page()};
  for (const auto& p : packets) {
    pages.emplace_back();
    writer.packet_page(p, 1920, pages.back());
  }
  OggOpusReaderParams params;
  params.decode_audio = decode;
  std::optional<OggOpusReader> reader;
  std::vector<int16_t> pcm;
  pcm.reserve(2 * 5760);
  std::size_t i = pages.size();
  for (auto _ : state) {
    if (i == pages.size()) {
      state.PauseTiming();
      reader.emplace(params);
      std::vector<int16_t> ignored;
      (void)reader->feed(pages[0], ignored);
      (void)reader->feed(pages[1], ignored);
      i = 2;
      state.ResumeTiming();
    }
    pcm.clear();
    auto ok = reader->feed(pages[i++], pcm);
    benchmark::DoNotOptimize(ok);
  }
}

void BM_OggDemux80msPage(benchmark::State& state) {
  demux(state, false);
}
void BM_OggDemuxDecode80msPage(benchmark::State& state) {
  demux(state, true);
}
BENCHMARK(BM_OggDemux80msPage);
BENCHMARK(BM_OggDemuxDecode80msPage);

} // namespace

BENCHMARK_MAIN();
