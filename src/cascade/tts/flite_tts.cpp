#include "cascade/tts/flite_tts.hpp"

#include <csetjmp>
#include <map>
#include <mutex>

#include <flite/flite.h>

// Debian's flite1-dev ships the voice libraries without headers.
extern "C" {
cst_voice* register_cmu_us_kal16(const char* voxdir);
cst_voice* register_cmu_us_slt(const char* voxdir);
}

namespace pv::cascade {

namespace {

// flite keeps global state (voice list, lexicon caches, cst_errjmp): everything goes through here.
std::mutex& flite_mutex() {
  static std::mutex m;
  return m;
}

// Caller holds flite_mutex().
cst_voice* voice_locked(const std::string& name) {
  static bool initialised = false;
  static std::map<std::string, cst_voice*> voices;
  if (!initialised) {
    flite_init();
    initialised = true;
  }
  if (auto it = voices.find(name); it != voices.end()) {
    return it->second;
  }
  cst_voice* voice = nullptr;
  if (name == "kal16") {
    voice = register_cmu_us_kal16(nullptr);
  } else if (name == "slt") {
    voice = register_cmu_us_slt(nullptr);
  }
  if (voice != nullptr) {
    voices.emplace(name, voice);
  }
  return voice;
}

struct StreamState {
  const TtsChunkSink* sink = nullptr;
  CancelToken cancel;
  TtsResult* result = nullptr;
  Clock::time_point started;
  bool cancelled = false;
  bool sink_failed = false;
  bool last_delivered = false;
};

int stream_chunk(const cst_wave* w, int start, int size, int last, cst_audio_streaming_info* asi) {
  auto* state = static_cast<StreamState*>(asi->userdata);
  if (state->cancel.cancelled()) {
    state->cancelled = true;
    return CST_AUDIO_STREAM_STOP;
  }
  if (size < 0 || start < 0 || start + size > w->num_samples) {
    return CST_AUDIO_STREAM_STOP; // never read outside the wave
  }
  TtsChunk chunk;
  chunk.samples = std::span<const int16_t>(w->samples + start, static_cast<std::size_t>(size));
  chunk.sample_rate_hz = w->sample_rate;
  chunk.last = last != 0;
  if (state->result->chunks == 0) {
    state->result->first_chunk_ms =
        std::chrono::duration<double, std::milli>(Clock::now() - state->started).count();
  }
  try {
    (*state->sink)(chunk);
  } catch (...) {
    state->sink_failed = true; // exceptions must not unwind through flite's C frames
    return CST_AUDIO_STREAM_STOP;
  }
  state->result->chunks += 1;
  state->result->samples += size;
  state->result->sample_rate_hz = w->sample_rate;
  state->last_delivered = chunk.last;
  return CST_AUDIO_STREAM_CONT;
}

// flite reports fatal errors through cst_error(), which calls exit() unless cst_errjmp is set.
// Only trivially destructible locals live here, so the longjmp skips no C++ destructor.
// Caller holds flite_mutex().
bool synth_guarded(cst_utterance* utt, cst_voice* voice) {
  std::jmp_buf env;
  jmp_buf* previous = cst_errjmp;
  cst_errjmp = &env;
  if (setjmp(env) != 0) {
    cst_errjmp = previous;
    return false; // the utterance is abandoned (flite may leak it on this path)
  }
  cst_utterance* done = flite_do_synth(utt, voice, utt_synth);
  cst_errjmp = previous;
  if (done != nullptr) {
    delete_utterance(done);
  }
  return done != nullptr;
}

} // namespace

tl::expected<std::unique_ptr<FliteTts>, ProviderError> FliteTts::create(const FliteParams& params) {
  if (params.chunk_ms < 5 || params.chunk_ms > 2000) {
    return tl::unexpected(make_error(ProviderErrorKind::config, "flite chunk_ms must be 5..2000"));
  }
  {
    std::lock_guard lock(flite_mutex());
    if (voice_locked(params.voice) == nullptr) {
      return tl::unexpected(
          make_error(ProviderErrorKind::config, "FLITE_VOICE='" + params.voice +
                                                    "' is not available (available: kal16, slt)"));
    }
  }
  return std::unique_ptr<FliteTts>(new FliteTts(params));
}

tl::expected<TtsResult, ProviderError> FliteTts::synthesize(const TtsRequest& request,
                                                            const TtsChunkSink& sink) {
  if (auto valid = validate_tts_request(request); !valid) {
    return tl::unexpected(valid.error());
  }
  if (!sink) {
    return tl::unexpected(make_error(ProviderErrorKind::bad_input, "flite: no chunk sink given"));
  }
  if (request.cancel.cancelled()) {
    return tl::unexpected(
        make_error(ProviderErrorKind::cancelled, "flite: cancelled before start"));
  }
  const std::string voice_name = request.voice.voice.empty() ? params_.voice : request.voice.voice;

  TtsResult result;
  StreamState state;
  state.sink = &sink;
  state.cancel = request.cancel;
  state.result = &result;
  state.started = Clock::now();

  bool ok = false;
  {
    std::lock_guard lock(flite_mutex());
    cst_voice* voice = voice_locked(voice_name);
    if (voice == nullptr) {
      return tl::unexpected(
          make_error(ProviderErrorKind::bad_input,
                     "flite voice '" + voice_name + "' is not available (available: kal16, slt)"));
    }
    cst_utterance* utt = new_utterance();
    // Owned by the utterance's feature list from here on (freed with it).
    cst_audio_streaming_info* asi = new_audio_streaming_info();
    asi->asc = stream_chunk;
    asi->min_buffsize = kSampleRateHz * params_.chunk_ms / 1000;
    asi->userdata = &state;
    feat_set(utt->features, "streaming_info", audio_streaming_info_val(asi));
    // Per-utterance settings shadow the voice's (utt features are linked to the voice's).
    feat_set_float(utt->features, "duration_stretch",
                   100.0F / static_cast<float>(request.voice.rate_percent));
    if (request.voice.pitch_percent != 0) {
      const float base = flite_get_param_float(voice->features, "int_f0_target_mean", 100.0F);
      feat_set_float(utt->features, "int_f0_target_mean",
                     base * (1.0F + static_cast<float>(request.voice.pitch_percent) / 100.0F));
    }
    utt_set_input_text(utt, request.text.c_str());
    ok = synth_guarded(utt, voice);
  }
  result.total_ms = std::chrono::duration<double, std::milli>(Clock::now() - state.started).count();

  if (state.cancelled || request.cancel.cancelled()) {
    return tl::unexpected(
        make_error(ProviderErrorKind::cancelled,
                   "flite: cancelled after " + std::to_string(result.chunks) + " chunks"));
  }
  if (state.sink_failed) {
    return tl::unexpected(make_error(ProviderErrorKind::internal, "flite: the chunk sink threw"));
  }
  if (!ok) {
    return tl::unexpected(make_error(ProviderErrorKind::internal, "flite: synthesis failed"));
  }
  if (!state.last_delivered) {
    // Text with nothing to say (e.g. only punctuation): still close the stream for the consumer.
    TtsChunk end;
    end.sample_rate_hz = kSampleRateHz;
    end.last = true;
    sink(end);
    result.sample_rate_hz = kSampleRateHz;
  }
  return result;
}

} // namespace pv::cascade
