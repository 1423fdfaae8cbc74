#pragma once
// Sample-rate conversion at the edges of the system (48 kHz room <-> 16 kHz VAD/ASR <-> 24 kHz
// PersonaPlex), never inside.
//
// StreamResampler – live path. speexdsp quality 5 (int16 API): >110 dB SNR, adds no buffering
//                   beyond the filter's group delay (1.7 ms for 48k<->24k, 2.5 ms for the pairs
//                   with 16k; measured, see docs/PERFORMANCE.md), keeps state across calls (no
//                   click at frame boundaries: feeding a signal in 20 ms frames gives the same
//                   samples as feeding it at once). Output starts at once (the filter delay
//                   appears as leading near-silence), so N ms in gives N ms out. No allocation
//                   when `out` already has capacity.
// FrameResampler  – StreamResampler plus a FIFO that re-cuts the output into 20 ms frames.
// resample_clip   – offline, whole clips (fixtures, TTS sentences from HTTP providers): libsoxr HQ.
//                   Not for the live path: soxr holds back 20-60 ms when streamed.
//
// Threading: a StreamResampler / FrameResampler belongs to one thread at a time (checked with
// util::ThreadOwner in debug builds; a moved-to object re-binds on first use). resample_clip is
// stateless.

#include "audio/frame.hpp"

#include <memory>
#include <span>
#include <string>
#include <vector>

#include <tl/expected.hpp>

namespace pv::audio {

struct ResamplerParams {
  int in_rate_hz = kRoomRateHz;
  int out_rate_hz = kSpeechRateHz;
  int quality = 5; // speexdsp 0..10
};

class StreamResampler {
public:
  static tl::expected<StreamResampler, std::string> create(const ResamplerParams& params);

  StreamResampler(StreamResampler&&) noexcept;
  StreamResampler& operator=(StreamResampler&&) noexcept;
  ~StreamResampler();

  // Appends the converted samples for `in` to `out`. State carries over to the next call.
  // Over time the output count tracks in.size() * out_rate / in_rate exactly (per call it may
  // differ by one sample for non-integer ratios).
  void process(std::span<const int16_t> in, std::vector<int16_t>& out);

  // Forgets the filter history (e.g. after a long silence or a session switch).
  void reset();

  int in_rate() const { return params_.in_rate_hz; }
  int out_rate() const { return params_.out_rate_hz; }
  // Group delay of the filter, in output samples (speexdsp's own figure).
  int output_latency_samples() const;

private:
  struct Impl;
  explicit StreamResampler(const ResamplerParams& params, std::unique_ptr<Impl> impl);
  ResamplerParams params_;
  std::unique_ptr<Impl> impl_;
};

// Converts 20 ms frames at one rate into 20 ms frames at another. Every push of one 20 ms frame
// makes (about) one 20 ms frame available: after N pushes, N or N-1 frames have been popped.
class FrameResampler {
public:
  static tl::expected<FrameResampler, std::string> create(const ResamplerParams& params);

  // Resamples `in` into the internal FIFO. Precondition: in.sample_rate() == in_rate (asserted;
  // frames of any length up to kMaxFrameSamples are fine).
  void push(const Frame& in);
  // Pops one 20 ms frame at out_rate if a whole one is available.
  bool pop(Frame& out);
  std::size_t buffered_samples() const { return fifo_.size() - fifo_head_; }
  void reset();
  int in_rate() const { return rs_.in_rate(); }
  int out_rate() const { return rs_.out_rate(); }

private:
  explicit FrameResampler(StreamResampler rs);
  StreamResampler rs_;
  std::vector<int16_t> fifo_;
  std::size_t fifo_head_ = 0;
};

// Offline whole-clip conversion (libsoxr HQ). Returns the input unchanged if rates match. Output
// length is round(in.size() * out_rate / in_rate); the filter delay is compensated (no shift).
// Rates must be in 1000..384000 Hz, else an error.
tl::expected<PcmBuffer, std::string> resample_clip(const PcmBuffer& in, int out_rate_hz);

} // namespace pv::audio
