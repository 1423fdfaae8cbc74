#pragma once
// The cascade backend: VAD -> ASR -> LLM -> TTS, as a conversation::ConversationBackend.
//
// Threads (each object below states its owner):
//   room clock thread  on_room_frame(): 48 kHz -> 16 kHz (FrameResampler) and a copy into the
//                      worker's pre-allocated frame ring (never blocks; a full ring drops the frame
//                      and counts it). fill_agent_frame(): 20 ms from the ReplyPlayout buffer.
//   worker (owner)     the state machine below, the VAD segmenter, barge-in detector, turn queue,
//                      memory, prompts, splitter, safety gate, timers and watchdogs. It never calls
//                      a provider: provider calls run on the three lanes and come back as events.
//   ASR lane           one AsrSession at a time, fed frame by frame while the user speaks, so the
//                      transcript is ready a few ms after the end of turn (pocketsphinx).
//   LLM lane           LlmProvider::generate(); every text piece is posted to the worker.
//   speaker lane       TtsProvider::synthesize() per sentence, resampled to 48 kHz by one
//                      StreamResampler per reply (no clicks between sentences), paced into the
//                      playout buffer by its free space (nothing dropped), with look-ahead: the
//                      next sentence is synthesized while the previous plays, but never more than
//                      `lookahead_ms` of audio ahead of playout.
// Messages between threads are passed by value (events, lane commands).
//
// State machine (worker; `user_speaking` is tracked separately by the segmenter, because the user
// may talk while the agent thinks or speaks):
//
//   idle      --user speech starts------------------------------> listening
//   listening --segment discarded (too little speech)-----------> idle
//   listening --end of turn: transcript awaited------------------> thinking
//   idle      --greeting/opener due, user silent, nothing queued-> thinking
//   thinking  --first reply audio pushed to playout--------------> speaking
//   thinking  --reply ends without audio (empty text, failure,
//               speaking not allowed, opener cancelled)----------> idle | listening |
//               thinking(next)
//   speaking  --reply played through------------------------------> idle | listening |
//   thinking(next) speaking  --barge-in (>= BARGE_IN_MIN_MS of user speech while
//               agent audio plays) or speaking disallowed: playout
//               flushed at once, LLM/TTS cancelled, memory keeps
//               only what was heard-------------------------------> listening | thinking(next)
//   any       --stop()--------------------------------------------> idle
//   "thinking(next)": the next queued user turn starts as soon as the previous reply is over.
//
// Policies:
//  * Nothing the user says is dropped: every end of turn is queued in order (max_pending_turns;
//    beyond that a new turn is merged into the last queued one, its transcript appended) and
//    answered in order, one reply per turn. Every on_user_turn_end() is matched by exactly one
//    on_turn_complete(). A reply never starts while the user is talking (it would only be cut).
//  * Memory: the user's turn when its answer starts; the agent's reply when it ends: the whole
//    text if played through, only the words heard (ReplyPlayout cursor) if cut.
//  * Failures never leave the agent deaf: every provider call has the provider's own deadline and
//    an orchestrator watchdog (deadline + watchdog_grace) that cancels it; the reply then ends on
//    every path. ASR failure -> "didn't catch that" apology; LLM failure before any sentence ->
//    apology; TTS failure -> silence; each reported once through on_error() and logged
//    (ASR_FAILED, LLM_FAILED, TTS_FAILED).
//  * Greeting (GREETING_TEXT) or, without one, the LLM opener: due after their delay; deferred
//    while the user speaks, skipped once a user turn has been taken, and an opener still thinking
//    is cancelled when the user starts to speak. They never overlap a user turn.
//  * Filler: if an answer has no audio `filler_delay_ms` after it started, one clip of the
//    persona's filler bank plays; the reply's first audio cuts it (ReplyPlayout).
//  * set_speaking_allowed(false): playout stops and the current reply is cut; later turns are
//    heard (memory) but not answered until speaking is allowed again.
//
// Lifecycle: start() once, stop() once (idempotent); a stopped orchestrator cannot be restarted.
//
// Lockstep (simulated rooms only): with sync_wait_ms > 0, on_room_frame() waits up to that long
// for the work the frame caused (Activity), so an unpaced mock room (MOCK_ROOM_SPEED=0) cannot
// outrun the providers. Live rooms use 0: the clock thread never waits.

#include "audio/vad_segmenter.hpp"
#include "cascade/asr/asr_provider.hpp"
#include "cascade/fillers.hpp"
#include "cascade/llm/llm_provider.hpp"
#include "cascade/memory.hpp"
#include "cascade/safety.hpp"
#include "cascade/sentence_splitter.hpp"
#include "cascade/tts/tts_provider.hpp"
#include "conversation/backend.hpp"

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <tl/expected.hpp>

namespace pv::cascade {

struct OrchestratorParams {
  audio::VadSegmenterParams vad;
  audio::BargeInParams barge_in;

  // Provider deadlines (the providers enforce them; the orchestrator's watchdog cancels a call
  // still running `watchdog_grace` later).
  std::chrono::milliseconds asr_timeout{20000};            // ASR_TIMEOUT_MS
  std::chrono::milliseconds llm_first_token_timeout{8000}; // LLM_FIRST_TOKEN_TIMEOUT_MS
  std::chrono::milliseconds llm_total_timeout{25000};      // LLM_TOTAL_TIMEOUT_MS
  std::chrono::milliseconds tts_timeout{15000};            // TTS_TIMEOUT_MS
  std::chrono::milliseconds watchdog_grace{1000};
  int llm_max_tokens = 150; // LLM_MAX_TOKENS

  // Conversation.
  std::string persona_id = "default";   // PERSONA_ID
  std::size_t max_turns_in_memory = 50; // MAX_TURNS_IN_MEMORY
  std::string greeting_text;            // GREETING_TEXT ("" = none)
  int greeting_delay_ms = 2000;         // GREETING_DELAY_MS
  bool opener_enabled = false;          // OPENER_ENABLED (only without a greeting)
  int opener_delay_ms = 2500;           // OPENER_DELAY_MS
  int opener_max_tokens = 180;          // OPENER_MAX_TOKENS
  std::string topic_seed;               // TOPIC_SEED
  std::string room_context;             // e.g. the outpost's name and subject
  std::string feedback_react_to;        // FEEDBACK_REACT_TO_ADDRESS
  VoiceOptions voice;                   // persona cadence for the TTS provider
  SafetyParams safety;
  SentenceSplitterParams splitter;
  std::string apology_text = "Sorry, I'm having trouble answering right now.";
  std::string not_heard_text = "Sorry, I didn't catch that. Could you say it again?";
  int max_pending_turns = 4;

  // Fillers (nullptr = none).
  std::shared_ptr<const FillerBank> fillers;
  int filler_delay_ms = 700; // FILLER_DELAY_MS

  // Output.
  int playout_capacity_ms = 6000; // the playout buffer (allocated once)
  int lookahead_ms = 2500;        // synthesize the next sentence only below this much queued audio

  // Plumbing.
  int frame_queue_frames = 256; // clock -> worker ring (5 s)
  int asr_queue_frames = 1024;  // worker -> ASR lane (20 s)
  int sync_wait_ms = 0;         // lockstep for simulated rooms (see above); 0 = live
  uint64_t first_turn_id = 1;   // distinct ranges when two backends share one agent
};

struct OrchestratorProviders {
  std::shared_ptr<AsrProvider> asr;
  std::shared_ptr<LlmProvider> llm;
  std::shared_ptr<TtsProvider> tts;
};

struct OrchestratorStats {
  int64_t user_turns = 0;   // ends of turn (plus turns taken over)
  int64_t merged_turns = 0; // turns merged into the previous one (queue full)
  int64_t max_queued_turns = 0;
  int64_t replies_started = 0;
  int64_t replies_completed = 0; // played through
  int64_t replies_cut = 0;       // barge-in or speaking disallowed
  int64_t barge_ins = 0;
  int64_t fillers_played = 0;
  int64_t greetings = 0;
  int64_t openers = 0;
  int64_t openings_skipped = 0;
  int64_t apologies = 0;
  int64_t asr_failures = 0;
  int64_t llm_failures = 0;
  int64_t tts_failures = 0;
  int64_t watchdog_cancels = 0;
  int64_t frames_dropped = 0;     // clock -> worker ring full
  int64_t asr_frames_dropped = 0; // worker -> ASR lane full
  int64_t lane_exceptions = 0;
};

enum class OrchestratorState { idle, listening, thinking, speaking };
const char* to_string(OrchestratorState state);

class Orchestrator final : public conversation::ConversationBackend {
public:
  static tl::expected<std::unique_ptr<Orchestrator>, conversation::BackendError>
  create(OrchestratorParams params, OrchestratorProviders providers);
  ~Orchestrator() override;
  Orchestrator(const Orchestrator&) = delete;
  Orchestrator& operator=(const Orchestrator&) = delete;

  std::string_view name() const override { return "asr-llm-tts"; }
  tl::expected<void, conversation::BackendError>
  start(const conversation::BackendContext& context) override;
  void stop() override;
  void on_room_frame(const audio::Frame& inbound_48k) override;
  void fill_agent_frame(audio::Frame& outbound_48k) override;
  void set_speaking_allowed(bool allowed) override;
  bool idle() const override;
  void on_reaction(const conversation::AudienceReaction& reaction) override;
  bool take_over_turn(std::shared_ptr<const conversation::UserUtterance> utterance) override;

  // Any thread.
  OrchestratorStats stats() const;
  OrchestratorState state() const;
  std::vector<MemoryTurn> memory() const;

  struct Impl;

private:
  explicit Orchestrator(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

} // namespace pv::cascade
