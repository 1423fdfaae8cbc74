#pragma once
// The seam between the agent and a conversation engine (PersonaPlex, the cascade, the loopback).
//
// Threading contract:
//  * on_room_frame() and fill_agent_frame() are called on the room clock thread, once per 20 ms,
//    in that order. They must not block, wait on I/O, or allocate per frame.
//  * A backend runs its own work on threads/strands it owns; start() creates them and stop()
//  cancels
//    outstanding I/O, joins them and returns promptly (bounded by a timeout, never hangs).
//  * BackendObserver callbacks may come from any backend thread; implementations are thread-safe
//    and non-blocking.
//  * Failures are typed (ErrorKind) and reported once through on_error(); the agent decides about
//    retry and fallback in one place (src/agent/).

#include "audio/frame.hpp"

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <tl/expected.hpp>

namespace pv::conversation {

enum class ErrorKind {
  // PersonaPlex client (protocol and transport)
  connect_refused,
  tls_error,
  http_rejected,
  closed_before_handshake,
  handshake_timeout,
  server_closed,
  decode_error,
  send_error,
  no_audio,
  turn_timeout,
  // cascade providers
  asr_failed,
  llm_failed,
  tts_failed,
  provider_timeout,
  rate_limited,
  // generic
  config,
  internal,
};

const char* to_string(ErrorKind kind);

// A user utterance a backend could not answer; handed to a fallback backend if configured.
struct UserUtterance {
  uint64_t turn_id = 0;
  audio::PcmBuffer pcm;   // the utterance (16 kHz from the VAD path, or 48 kHz)
  std::string transcript; // empty when unknown
  int64_t speech_end_media_ms = 0;
};

struct BackendError {
  ErrorKind kind = ErrorKind::internal;
  std::string message; // the cause, never a secret
  bool retryable = false;
  std::shared_ptr<const UserUtterance> unanswered; // set when a user turn was lost to the error
};

// One exchange, reported when the reply has finished (or was interrupted).
struct TurnReport {
  uint64_t turn_id = 0;
  std::string user_text;  // empty where the backend has none
  std::string agent_text; // what the agent actually said (cut at barge-in)
  bool interrupted = false;
  // Parts of the latency the backend can split out, in ms, in pipeline order
  // (e.g. vad_wait, asr, llm_first_token, tts_first_chunk). The agent adds "total" and "queue".
  std::vector<std::pair<std::string, double>> latency_parts_ms;
};

class BackendObserver {
public:
  virtual ~BackendObserver() = default;
  // The backend heard the user start speaking.
  virtual void on_user_speech_start(int64_t media_ms) = 0;
  // The backend decided a user turn ended; `speech_end_media_ms` is when the speech itself ended
  // (before the end-of-turn silence), the start point of the turn's total latency.
  virtual void on_user_turn_end(uint64_t turn_id, int64_t speech_end_media_ms) = 0;
  // Barge-in: the user spoke over the agent and playout was stopped.
  virtual void on_barge_in(uint64_t turn_id, int64_t media_ms, double stop_latency_ms) = 0;
  virtual void on_turn_complete(TurnReport report) = 0;
  virtual void on_error(const BackendError& error) = 0;
  // The backend lost (false) or regained (true) its ability to answer, e.g. a PersonaPlex session
  // dropped and is reconnecting. The agent routes turns to a fallback backend meanwhile.
  virtual void on_backend_health(bool healthy) { (void)healthy; }
};

// An audience reaction in the room (Podium: like, dislike, boo, cheer).
struct AudienceReaction {
  std::string kind; // like | dislike | boo | cheer
  double amount = 1;
  std::string target; // address the reaction is aimed at ("" = unknown)
  int64_t media_ms = 0;
};

struct BackendContext {
  BackendObserver* observer = nullptr;
  // The room's media clock (ms since the room started); thread-safe.
  std::function<int64_t()> media_time_ms;
};

class ConversationBackend {
public:
  virtual ~ConversationBackend() = default;

  virtual std::string_view name() const = 0;

  virtual tl::expected<void, BackendError> start(const BackendContext& context) = 0;
  virtual void stop() = 0;

  // Room clock thread: what the room's people said in the last 20 ms (48 kHz).
  virtual void on_room_frame(const audio::Frame& inbound_48k) = 0;
  // Room clock thread: what the agent says in the next 20 ms (48 kHz; leave zeros for silence).
  virtual void fill_agent_frame(audio::Frame& outbound_48k) = 0;

  // Whether the agent may speak (room speaking time, moderation). When false the backend keeps
  // its session and state but plays nothing.
  virtual void set_speaking_allowed(bool allowed) = 0;

  // True when nothing is pending: no reply being prepared or played, no queued user turn.
  virtual bool idle() const = 0;

  // Audience feedback (reactions) for backends that adapt to the room. Any thread.
  virtual void on_reaction(const AudienceReaction& reaction) { (void)reaction; }

  // Fallback seam: answer a turn another backend could not. Returns false if unsupported.
  virtual bool take_over_turn(std::shared_ptr<const UserUtterance> utterance) {
    (void)utterance;
    return false;
  }
};

} // namespace pv::conversation
