#pragma once
// The agent's voice in the cascade: the producer side of the playout buffer (48 kHz) plus a
// ledger of what was pushed, so that the orchestrator knows at any moment which words the room
// has heard (anchors §3.7: an utterance is a handle with a playback cursor).
//
//  * One reply owns the voice at a time (begin_reply). Its sentences are pushed in order by the
//    speaker lane; each sentence records where its audio starts in the stream (push index) and
//    how long it is, so cut() can turn "samples played" into "characters heard" per sentence
//    (memory.hpp heard_prefix) and memory keeps only what was actually heard.
//  * A filler clip may be pushed while the reply has no audio yet. The reply's first push cuts
//    whatever is left of the filler (flush), so a filler never plays on top of the reply.
//  * cut() (barge-in, speaking no longer allowed) flushes the buffer at once (playout stops at the
//    next 20 ms pull) and refuses every later push of that reply, even one already under way on
//    another thread: push() checks the reply's cancel token under the same mutex.
//  * push() never blocks and never drops: it takes what fits in the free space and returns the
//    count, so the producer paces itself by free_samples().
//
// Threads: pull() on the room clock thread (only the buffer's own short mutex); push/sentence
// calls on the speaker lane; begin_reply/push_filler/cut/played_through on the orchestrator's
// worker. One mutex guards the ledger and the producer side; it is never held across I/O or
// provider calls (lock order: this mutex, then the buffer's).

#include "audio/playout_buffer.hpp"
#include "cascade/cancel.hpp"

#include <cstdint>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace pv::cascade {

struct PlayoutCut {
  std::string heard_text; // the words of the reply the room heard, sentence by sentence
  std::size_t discarded_samples = 0;
  bool reply_audio_played = false; // some of the reply's own audio (not a filler) was played
};

class ReplyPlayout {
public:
  explicit ReplyPlayout(const audio::PlayoutBufferParams& params);

  // Room clock thread: the next 20 ms (silence where nothing is queued).
  std::size_t pull(std::span<int16_t> out) { return buffer_.pull(out); }

  // Worker: `reply` owns the voice from now on; the ledger of older replies is dropped.
  void begin_reply(uint64_t reply);
  // Worker: a filler while `reply` has no audio of its own yet. False (nothing pushed) once the
  // reply's audio started or ended, when `reply` does not own the voice, or if the clip does not
  // fit in the free space.
  bool push_filler(uint64_t reply, std::span<const int16_t> pcm_48k);

  // Speaker lane.
  void begin_sentence(uint64_t reply, std::size_t index, std::string text);
  // Pushes as much of `pcm_48k` as fits; returns the count taken (0 = no space right now), or
  // nullopt when the reply was cut/cancelled or no longer owns the voice (drop the rest).
  std::optional<std::size_t> push(uint64_t reply, std::size_t index, const CancelToken& cancel,
                                  std::span<const int16_t> pcm_48k);
  // The sentence's total length once known (synthesis finished), for the heard-text estimate.
  void set_sentence_total(uint64_t reply, std::size_t index, int64_t total_samples);
  // No more audio for `reply`: the buffer drains, then goes idle.
  void end_reply(uint64_t reply);

  // Worker: stops `reply` now (flush) and tells what of it was heard.
  PlayoutCut cut(uint64_t reply);
  // Worker: end_reply() was called and every sample pushed for `reply` has been pulled.
  bool played_through(uint64_t reply) const;
  bool reply_audio_started(uint64_t reply) const;

  // Any thread.
  std::size_t free_samples() const { return buffer_.free_samples(); }
  int buffered_ms() const { return buffer_.buffered_ms(); }
  bool active() const { return buffer_.active(); }
  audio::PlayoutStats stats() const { return buffer_.stats(); }
  std::size_t capacity_samples() const { return buffer_.capacity_samples(); }

  // Heard text of one sentence of `total` samples of which `played` were played.
  static std::string heard_part(const std::string& text, int64_t played, int64_t total);

private:
  struct Sentence {
    std::size_t index = 0;
    std::string text;
    int64_t begin = -1; // push index of its first sample
    int64_t pushed = 0;
    int64_t total = -1; // -1: synthesis still running
  };
  Sentence* find_locked(uint64_t reply, std::size_t index);
  int64_t consumed_locked() const; // push index of the first sample not yet pulled

  mutable std::mutex mutex_;
  audio::PlayoutBuffer buffer_;
  uint64_t reply_ = 0;
  bool reply_audio_started_ = false;
  bool filler_in_buffer_ = false;
  bool reply_ended_ = false;
  int64_t reply_end_index_ = -1;
  std::vector<Sentence> sentences_;
};

} // namespace pv::cascade
