#pragma once
// Bounded playout (jitter) buffer between a producer (backend thread/strand) and the room clock
// thread that pulls one 20 ms frame per tick. Thread-safe: one producer and one consumer (or more)
// may call it concurrently.
//
// * Fixed capacity (max_depth) allocated once; push/pull copy under a short mutex (never held
//   across I/O, never allocates).
// * Beyond max_depth the OLDEST audio is dropped and counted (a late server must not grow latency
//   forever). A single push larger than max_depth keeps only its newest max_depth samples.
// * A stream starts with the first push after idle. With prebuffer_ms > 0 it plays once that much
//   is queued (or end_stream() was called): the initial wait is silence, not an underrun.
// * pull() on an empty or short buffer pads with silence and counts an underrun, but only while a
//   stream is playing and not ended (silence between utterances is not an underrun). Playback does
//   not re-prebuffer after an underrun: the next pushed audio plays at the next pull.
// * end_stream(): the rest drains, then the buffer goes idle without counting an underrun. A push
//   after end_stream() (before or after the drain) continues/starts a stream.
// * flush() empties it at once and goes idle (barge-in: playout stops within one frame).
// * free_samples() lets a producer that must not lose audio (TTS) pace itself instead of dropping.

#include "audio/frame.hpp"

#include <cstdint>
#include <mutex>
#include <span>
#include <vector>

namespace pv::audio {

struct PlayoutBufferParams {
  int sample_rate_hz = kRoomRateHz;
  int max_depth_ms = 200; // older audio beyond this is dropped (>= one 20 ms frame)
  int prebuffer_ms = 0;   // audio held back at the start of a stream (clamped to max_depth_ms)
};

struct PlayoutStats {
  int64_t pushed_samples = 0;
  int64_t played_samples = 0;
  int64_t dropped_samples = 0; // dropped by the depth bound
  int64_t flushed_samples = 0; // removed by flush()
  int64_t underruns = 0;       // pulls that ran dry mid-stream
};

class PlayoutBuffer {
public:
  explicit PlayoutBuffer(const PlayoutBufferParams& params = {});

  // Producer side. Samples must be at sample_rate_hz. Returns how many older samples were dropped.
  std::size_t push(std::span<const int16_t> samples);
  // Producer side: marks the end of a stream (the next empty pull is not an underrun).
  void end_stream();

  // Consumer side (room clock thread): fills `out` completely (silence where nothing is queued).
  // Returns the number of real (queued) samples written.
  std::size_t pull(std::span<int16_t> out);

  // Empties the buffer at once. Returns the number of samples discarded.
  std::size_t flush();

  std::size_t buffered_samples() const;
  std::size_t free_samples() const;
  int buffered_ms() const;
  PlayoutStats stats() const;
  int sample_rate() const { return params_.sample_rate_hz; }
  std::size_t capacity_samples() const { return max_depth_; }
  // True between the first push of a stream and its drain/flush.
  bool active() const;

private:
  enum class State { idle, priming, playing };

  PlayoutBufferParams params_;
  mutable std::mutex mutex_;
  std::vector<int16_t> ring_;
  std::size_t head_ = 0; // read position
  std::size_t size_ = 0;
  std::size_t max_depth_ = 0;
  std::size_t prebuffer_ = 0;
  State state_ = State::idle;
  bool ending_ = false; // end_stream() called: drain without counting underruns
  PlayoutStats stats_;
};

} // namespace pv::audio
