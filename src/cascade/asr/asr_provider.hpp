#pragma once
// Speech-to-text providers (pocketsphinx embedded; OpenAI-compatible HTTP added elsewhere).
//
// One user utterance = one AsrSession:
//   auto session = provider.start_utterance(params);   // any thread; bounded (see provider)
//   session->push(pcm16k) ... while the user speaks    // the session's owner thread
//   auto text = session->finish();                     // same thread; returns the transcript
// A streaming provider (pocketsphinx) decodes inside push(), so finish() only processes the tail;
// a batch provider (OpenAI HTTP) buffers in push() (bounded by max_audio_ms) and sends at finish(),
// bounded by `timeout`.
//
// Cancellation: `params.cancel` may be set from any thread (barge-in, shutdown): the next push()
// or the running finish() returns ProviderErrorKind::cancelled promptly (remote providers check it
// in their transfer loop). session->cancel() (owner thread) abandons the utterance at once;
// destroying a session also cancels it. A session is single-use: after finish() or cancel() every
// call fails with bad_input.
//
// Threading: providers are thread-safe (start_utterance from any thread); a session is owned by
// one thread (a backend worker, never the room clock thread: push() may cost a few ms of CPU).

#include "cascade/cancel.hpp"
#include "cascade/provider_error.hpp"

#include <chrono>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include <tl/expected.hpp>

namespace pv::cascade {

struct AsrUtteranceParams {
  int sample_rate_hz = 16000;               // of the pushed PCM
  std::chrono::milliseconds timeout{20000}; // ASR_TIMEOUT_MS: bound on finish()
  int max_audio_ms = 120000;                // more audio than this is refused (bad_input)
  std::string language = "en";              // hint for providers that take one
  CancelToken cancel;
};

struct Transcript {
  std::string text;     // lower-case words separated by single spaces for pocketsphinx
  int64_t audio_ms = 0; // audio received for this utterance
  double finish_ms = 0; // time finish() took (end of audio -> transcript)
};

class AsrSession {
public:
  virtual ~AsrSession() = default;
  // Appends mono s16 audio at params.sample_rate_hz.
  virtual tl::expected<void, ProviderError> push(std::span<const int16_t> pcm) = 0;
  // Ends the utterance and returns its transcript (possibly empty text: nothing recognised).
  virtual tl::expected<Transcript, ProviderError> finish() = 0;
  // Abandons the utterance; no transcript will be produced.
  virtual void cancel() = 0;
};

struct AsrCapabilities {
  bool streaming = false; // push() decodes incrementally, finish() only handles the tail
  int sample_rate_hz = 16000;
};

class AsrProvider {
public:
  virtual ~AsrProvider() = default;
  virtual std::string_view name() const = 0;
  virtual AsrCapabilities capabilities() const = 0;
  virtual tl::expected<std::unique_ptr<AsrSession>, ProviderError>
  start_utterance(const AsrUtteranceParams& params) = 0;
};

} // namespace pv::cascade
