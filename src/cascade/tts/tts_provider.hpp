#pragma once
// Text-to-speech providers (flite embedded; OpenAI/Google/Azure over HTTP, added elsewhere).
//
// Contract for every provider:
//  * synthesize() blocks the calling thread (a backend worker, never the room clock thread) until
//    the text is spoken, cancelled, failed or `timeout` expired (remote providers; flite is
//    CPU-bound: ~1 ms per sentence for kal16, ~20-60 ms for slt).
//  * Audio is delivered through `sink` as it is produced, in order, each chunk carrying its own
//    sample rate (never assume 48 kHz: flite gives 16 kHz, Azure raw PCM 16 kHz, OpenAI 24 kHz).
//    The sink runs on the calling thread, possibly while the provider holds an internal lock:
//    it must be quick (resample and push into a bounded buffer) and must not call the provider.
//  * `cancel` is checked between chunks; once it is set no further chunk is delivered and
//    synthesize() returns ProviderErrorKind::cancelled.
//  * Errors are typed (bad_input for empty/oversized text or an unknown voice, timeout, http...).
//  * Providers are thread-safe: synthesize() may be called from several threads at once (flite
//    serialises internally).

#include "cascade/cancel.hpp"
#include "cascade/provider_error.hpp"

#include <chrono>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>

#include <tl/expected.hpp>

namespace pv::cascade {

// Per-utterance voice settings. Each provider interprets them in its own terms; `voice` is a name
// in THAT provider's namespace (persona cadence files resolve it per provider, see personas.hpp).
// Mappings: flite duration_stretch = 100 / rate, f0 mean scaled by (1 + pitch / 100); Azure SSML
// prosody rate="+N%" / pitch="+N%"; Google speakingRate = rate / 100 and pitch in semitones
// = 12 * log2(1 + pitch / 100). An unknown voice name is a bad_input error, never ignored.
struct VoiceOptions {
  int rate_percent = 100; // speaking rate, 100 = the voice's normal speed (accepted 50..200)
  int pitch_percent = 0;  // pitch shift in percent of the voice's mean pitch (accepted -50..+100)
  std::string voice;      // provider-specific voice name; empty = the provider's configured default
};

struct TtsChunk {
  std::span<const int16_t> samples; // mono s16, valid only during the sink call
  int sample_rate_hz = 0;
  bool last = false; // the final chunk of this synthesis
};

using TtsChunkSink = std::function<void(const TtsChunk&)>;

struct TtsRequest {
  std::string text;
  VoiceOptions voice;
  std::chrono::milliseconds timeout{15000}; // TTS_TIMEOUT_MS, whole call (remote providers)
  CancelToken cancel;
};

struct TtsResult {
  int sample_rate_hz = 0;
  int64_t samples = 0; // total delivered
  int chunks = 0;
  double first_chunk_ms = 0; // from the call to the first chunk
  double total_ms = 0;
};

inline constexpr std::size_t kMaxTtsTextChars = 4000;

class TtsProvider {
public:
  virtual ~TtsProvider() = default;
  virtual std::string_view name() const = 0;
  virtual tl::expected<TtsResult, ProviderError> synthesize(const TtsRequest& request,
                                                            const TtsChunkSink& sink) = 0;
};

// Shared request validation (empty text, text length, rate/pitch ranges).
tl::expected<void, ProviderError> validate_tts_request(const TtsRequest& request);

} // namespace pv::cascade
