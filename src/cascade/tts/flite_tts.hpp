#pragma once
// flite (CMU, BSD-style licence) as the embedded TTS: voices cmu_us_kal16 (diphone, default,
// ~1500x real time, the best-recognised by pocketsphinx) and cmu_us_slt (clustergen, nicer, ~50x).
// Output: 16 kHz mono s16.
//
// Streaming: flite's own audio-streaming callback (`streaming_info` utterance feature) works with
// the Debian build for both voices, so chunks of `chunk_ms` are delivered while the waveform is
// generated (not a whole-sentence synthesis cut up afterwards).
// Voice options: rate_percent -> `duration_stretch` = 100 / rate; pitch_percent ->
// `int_f0_target_mean` scaled from the voice's default. Both are set on the utterance, never on
// the shared voice, so concurrent callers cannot see each other's settings.
//
// Thread-safety: flite voice registration and synthesis use process-global state, so both are
// serialised by one process-wide mutex (synthesis is much faster than real time, so contention is
// a few ms at worst). The chunk sink is called with that mutex held: keep it short.

#include "cascade/tts/tts_provider.hpp"

#include <memory>
#include <string>

namespace pv::cascade {

struct FliteParams {
  std::string voice = "kal16"; // default voice: kal16 | slt (FLITE_VOICE)
  int chunk_ms = 100;          // streaming granularity
};

class FliteTts final : public TtsProvider {
public:
  static tl::expected<std::unique_ptr<FliteTts>, ProviderError> create(const FliteParams& params);

  std::string_view name() const override { return "flite"; }
  tl::expected<TtsResult, ProviderError> synthesize(const TtsRequest& request,
                                                    const TtsChunkSink& sink) override;

  static constexpr int kSampleRateHz = 16000;

private:
  explicit FliteTts(const FliteParams& params) : params_(params) {}
  FliteParams params_;
};

} // namespace pv::cascade
