#pragma once
// The simulated "model": a conversation partner behind the PersonaPlex wire protocol. There is no
// neural network and no ASR; it listens with the WebRTC VAD and answers with canned sentences.
//
// Per model step (1920 input samples at 24 kHz = 80 ms) it
//  1. resamples the input to 16 kHz (speexdsp) and runs the VAD on each 20 ms frame;
//  2. tracks the user's turn: an utterance opens at the first speech frame and ends after
//     `end_silence_ms` without speech; if it held at least `min_speech_ms` of speech frames the
//     model answers, otherwise the utterance is ignored (a cough);
//  3. answers with the next reply sentence: reply k of the session (k = 0, 1, ...) is
//     replies[k % replies.size()], or always `fixed_reply` when set; the reply starts in the step
//     in which the turn ended, so its audio never starts before the user has stopped;
//  4. during a long utterance (`backchannel_after_ms`), with probability `backchannel_probability`
//     drawn once per utterance from a generator seeded per session, it plays a short backchannel
//     ("Mm-hmm.") over the user (not an interruption of either side);
//  5. full duplex: when the user speaks for `interrupt_speech_ms` without a break while a reply
//     is playing, the reply stops in that very step (audio and the rest of its text); the user's
//     new utterance is answered when it ends;
//  6. outputs one 80 ms Opus packet: the next packet of the clip being played, else digital
//     silence (see SpeechBank); and at most one text piece per step (the real server's limit):
//     the earliest piece of the current clip whose time has come. Pieces left when the audio ends
//     follow one per step; a new clip drops the previous clip's unsent pieces.
//
// Owner: the session's thread (checked in debug builds). step() is CPU-only and does not
// allocate after the first call; the audio it returns is shared, read-only SpeechBank data.

#include "audio/resampler.hpp"
#include "audio/webrtc_vad.hpp"
#include "cascade/owner.hpp"
#include "sim/speech_bank.hpp"

#include <cstdint>
#include <memory>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <tl/expected.hpp>

namespace pv::sim {

struct SimModelParams {
  std::vector<std::string> replies = {
      "Hello! It is nice to hear from you.",
      "That sounds interesting, tell me more.",
      "I see what you mean.",
      "Good question. Let me think about that for a moment.",
      "Absolutely, I agree with you.",
      "Could you say that again, please?",
      "Thanks for sharing that with everyone.",
      "That is a great point, and I think the room would love to hear more about it.",
  };
  std::string fixed_reply;              // non-empty: every reply is this sentence
  std::string backchannel = "Mm-hmm.";  // empty: never
  std::string tts_voice = "kal16";      // flite voice: kal16 | slt
  int vad_mode = 2;                     // WebRTC VAD 0..3
  int min_speech_ms = 300;              // speech an utterance needs to be answered
  int end_silence_ms = 600;             // silence that ends the user's turn
  int interrupt_speech_ms = 80;         // continuous user speech that stops a reply
  int backchannel_after_ms = 3000;      // utterance length before a backchannel may come
  double backchannel_probability = 0.3; // per long utterance; 0 = never, 1 = always
};

// What happened in one step (for logs and session reports).
struct ModelStep {
  std::span<const uint8_t> packet; // 80 ms Opus packet (valid until the model is destroyed)
  std::string_view text;           // a text piece to send as 0x02, or empty (pad)
  const SpeechClip* reply_started = nullptr;
  const SpeechClip* backchannel_started = nullptr;
  const SpeechClip* interrupted = nullptr; // the reply the user cut off
  bool user_turn_ended = false;
  bool speaking = false; // the packet is clip audio, not silence
};

struct ModelStats {
  int64_t steps = 0;
  int user_turns = 0; // utterances answered
  int ignored_utterances = 0;
  int replies = 0;
  int backchannels = 0;
  int interruptions = 0;
  int text_pieces = 0;
  int64_t speech_frames = 0; // 20 ms VAD frames judged speech
};

class SimModel {
public:
  static tl::expected<SimModel, std::string>
  create(const SimModelParams& params, std::shared_ptr<const SpeechBank> bank, uint64_t seed);

  // One model step; `input` must hold exactly kModelFrameSamples samples (else treated as
  // silence-padded/truncated to that length).
  ModelStep step(std::span<const int16_t> input);

  const ModelStats& stats() const { return stats_; }
  const SimModelParams& params() const { return params_; }

private:
  SimModel(const SimModelParams& params, std::shared_ptr<const SpeechBank> bank,
           audio::StreamResampler resampler, audio::WebRtcVad vad, uint64_t seed);
  void on_vad_frame(bool speech, ModelStep& out);
  void start_clip(const SpeechClip* clip, bool is_reply);

  SimModelParams params_;
  std::shared_ptr<const SpeechBank> bank_;
  audio::StreamResampler resampler_; // 24 kHz -> 16 kHz for the VAD
  audio::WebRtcVad vad_;
  std::mt19937_64 rng_;
  std::vector<int16_t> vad_fifo_; // 16 kHz samples not yet in a 20 ms frame
  std::size_t vad_fifo_head_ = 0;

  // The user's turn.
  bool utterance_open_ = false;
  int utterance_ms_ = 0;
  int utterance_speech_ms_ = 0;
  int speech_run_ms_ = 0;
  int silence_run_ms_ = 0;
  bool backchannel_decided_ = false;
  bool reply_due_ = false;

  // What the model is saying.
  const SpeechClip* audio_clip_ = nullptr; // playing, or null
  bool audio_is_reply_ = false;
  std::size_t audio_pos_ = 0; // next packet
  const SpeechClip* text_clip_ = nullptr;
  std::size_t text_pos_ = 0; // next piece
  int64_t text_clock_ = 0;   // clip samples output so far (for piece timing)
  int next_reply_ = 0;
  bool sent_any_ = false;

  ModelStats stats_;
  cascade::MovableThreadOwner owner_;
};

} // namespace pv::sim
