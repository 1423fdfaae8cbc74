// Cascade building blocks: VAD frame cost, pocketsphinx push/finish cost, flite real-time factor,
// sentence splitter throughput. The speech material is flite kal16 (deterministic).
#include "audio/webrtc_vad.hpp"
#include "cascade/asr/pocketsphinx_asr.hpp"
#include "cascade/sentence_splitter.hpp"
#include "cascade/tts/flite_tts.hpp"
#include "cascade/vad_segmenter.hpp"

#include <benchmark/benchmark.h>

#include <random>
#include <string>
#include <vector>

namespace {

using namespace pv::cascade;

FliteTts& kal16() {
  static auto tts = std::move(*FliteTts::create({"kal16", 100}));
  return *tts;
}

std::vector<int16_t> speak(const std::string& text) {
  std::vector<int16_t> pcm;
  TtsRequest request;
  request.text = text;
  (void)kal16().synthesize(request, [&](const TtsChunk& c) {
    pcm.insert(pcm.end(), c.samples.begin(), c.samples.end());
  });
  return pcm;
}

// Speech and silence alternating, with light white noise: what the segmenter sees in a room.
const std::vector<int16_t>& room_material() {
  static const std::vector<int16_t> pcm = [] {
    std::vector<int16_t> out;
    for (const char* text :
         {"Hello everyone, welcome to the room.", "What is the weather like today?",
          "Please turn on the lights in the kitchen."}) {
      auto s = speak(text);
      out.insert(out.end(), s.begin(), s.end());
      out.insert(out.end(), 16000, 0);
    }
    std::mt19937 rng(3);
    std::normal_distribution<double> noise(0, 60);
    for (auto& s : out) {
      s = static_cast<int16_t>(std::clamp(s + noise(rng), -32768.0, 32767.0));
    }
    out.resize(out.size() / 320 * 320);
    return out;
  }();
  return pcm;
}

void BM_WebRtcVadFrame20ms(benchmark::State& state) {
  const auto& pcm = room_material();
  auto vad = std::move(*pv::audio::WebRtcVad::create({2, 16000}));
  std::size_t pos = 0;
  for (auto _ : state) {
    auto r = vad.is_speech(std::span<const int16_t>(pcm.data() + pos, 320));
    benchmark::DoNotOptimize(r);
    pos = (pos + 320) % pcm.size();
  }
}
BENCHMARK(BM_WebRtcVadFrame20ms);

void BM_VadSegmenterFrame20ms(benchmark::State& state) {
  const auto& pcm = room_material();
  auto seg = std::move(*VadSegmenter::create({}));
  std::size_t pos = 0;
  int64_t t = 0;
  for (auto _ : state) {
    auto ev = seg.process(std::span<const int16_t>(pcm.data() + pos, 320), t);
    benchmark::DoNotOptimize(ev);
    pos = (pos + 320) % pcm.size();
    t += 20;
  }
}
BENCHMARK(BM_VadSegmenterFrame20ms);

PocketsphinxAsr& asr(bool second_pass) {
  auto make = [](bool two) {
    PocketsphinxParams p;
    p.second_pass = two;
    return std::move(*PocketsphinxAsr::create(p));
  };
  static auto two_pass = make(true);
  static auto one_pass = make(false);
  return second_pass ? *two_pass : *one_pass;
}

const std::vector<int16_t>& sentence_3s() {
  static const auto pcm = [] {
    auto s = speak("Please turn on the lights in the kitchen, and then tell me a story.");
    s.insert(s.end(), 8000, 0); // 500 ms of end-of-turn silence reaches the decoder too
    return s;
  }();
  return pcm;
}

// Time from the last frame to the transcript: only finish() is timed; the frames are pushed
// beforehand, as they would be while the user speaks.
void BM_PocketsphinxFinish(benchmark::State& state) {
  const bool second_pass = state.range(0) != 0;
  const auto& pcm = sentence_3s();
  for (auto _ : state) {
    state.PauseTiming();
    auto session = std::move(*asr(second_pass).start_utterance({}));
    for (std::size_t i = 0; i < pcm.size(); i += 320) {
      (void)session->push(
          std::span<const int16_t>(pcm.data() + i, std::min<std::size_t>(320, pcm.size() - i)));
    }
    state.ResumeTiming();
    auto text = session->finish();
    benchmark::DoNotOptimize(text);
  }
  state.counters["utterance_ms"] = static_cast<double>(pcm.size()) / 16.0;
}
BENCHMARK(BM_PocketsphinxFinish)->Arg(1)->Arg(0)->Unit(benchmark::kMillisecond);

// Per-frame decoding cost while the user speaks (push of one 20 ms frame).
void BM_PocketsphinxPushFrame20ms(benchmark::State& state) {
  const bool second_pass = state.range(0) != 0;
  const auto& pcm = sentence_3s();
  auto session = std::move(*asr(second_pass).start_utterance({}));
  std::size_t pos = 0;
  for (auto _ : state) {
    if (pos + 320 > pcm.size()) {
      state.PauseTiming();
      (void)session->finish();
      session = std::move(*asr(second_pass).start_utterance({}));
      pos = 0;
      state.ResumeTiming();
    }
    auto r = session->push(std::span<const int16_t>(pcm.data() + pos, 320));
    benchmark::DoNotOptimize(r);
    pos += 320;
  }
  state.counters["xRT"] = benchmark::Counter(0.02 * static_cast<double>(state.iterations()),
                                             benchmark::Counter::kIsRate);
  (void)session->finish();
}
BENCHMARK(BM_PocketsphinxPushFrame20ms)->Arg(1)->Arg(0)->Unit(benchmark::kMicrosecond);

void BM_FliteSentence(benchmark::State& state) {
  const std::string voice = state.range(0) == 0 ? "kal16" : "slt";
  auto tts = std::move(*FliteTts::create({voice, 100}));
  TtsRequest request;
  request.text = "Hello there, and welcome to the show. How are you all doing today?";
  double audio_s = 0;
  double first_chunk_ms = 0;
  for (auto _ : state) {
    int64_t samples = 0;
    auto r = tts->synthesize(
        request, [&](const TtsChunk& c) { samples += static_cast<int64_t>(c.samples.size()); });
    audio_s += static_cast<double>(samples) / 16000.0;
    first_chunk_ms += r ? r->first_chunk_ms : 0;
  }
  state.SetLabel(voice);
  // Seconds of audio per second of wall time = times faster than real time.
  state.counters["xRT"] = benchmark::Counter(audio_s, benchmark::Counter::kIsRate);
  state.counters["first_chunk_ms"] = first_chunk_ms / static_cast<double>(state.iterations());
}
BENCHMARK(BM_FliteSentence)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond);

void BM_SentenceSplitterReply(benchmark::State& state) {
  const std::string reply =
      "Well, that is a great point, e.g. about the 3.5 percent rate. Mr. Smith said so at 9 a.m. "
      "yesterday. Honestly, I think we should look at example.com/a.b before deciding! What do "
      "you all think? ";
  std::vector<std::string> pieces;
  for (std::size_t pos = 0; pos < reply.size();) {
    std::size_t end = reply.find(' ', pos + 1);
    end = end == std::string::npos ? reply.size() : end;
    pieces.push_back(reply.substr(pos, end - pos));
    pos = end;
  }
  std::vector<std::string> out;
  out.reserve(32);
  for (auto _ : state) {
    SentenceSplitter splitter;
    out.clear();
    for (const auto& p : pieces) {
      splitter.push(p, out);
    }
    splitter.flush(out);
    benchmark::DoNotOptimize(out);
  }
  state.counters["pieces/s"] = benchmark::Counter(static_cast<double>(pieces.size()) *
                                                      static_cast<double>(state.iterations()),
                                                  benchmark::Counter::kIsRate);
}
BENCHMARK(BM_SentenceSplitterReply);

} // namespace
BENCHMARK_MAIN();
