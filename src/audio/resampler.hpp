#pragma once
// Sample-rate conversion at the edges of the system (48 kHz room <-> 16 kHz VAD/ASR <-> 24 kHz
// PersonaPlex), never inside.
//
// StreamResampler – live path. speexdsp quality 5: >110 dB SNR, adds no buffering beyond the
//                   filter's group delay (~2 ms), keeps state across calls (no click at frame
//                   boundaries). No allocation when `out` already has capacity.
// FrameResampler  – StreamResampler plus a FIFO that re-cuts the output into 20 ms frames.
// resample_clip   – offline, whole clips (fixtures, TTS sentences from HTTP providers): libsoxr HQ.

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
  void process(std::span<const int16_t> in, std::vector<int16_t>& out);

  // Forgets the filter history (e.g. after a long silence or a session switch).
  void reset();

  int in_rate() const { return params_.in_rate_hz; }
  int out_rate() const { return params_.out_rate_hz; }
  // Group delay of the filter, in output samples.
  int output_latency_samples() const;

private:
  struct Impl;
  explicit StreamResampler(const ResamplerParams& params, std::unique_ptr<Impl> impl);
  ResamplerParams params_;
  std::unique_ptr<Impl> impl_;
};

// Converts 20 ms frames at one rate into 20 ms frames at another.
class FrameResampler {
public:
  static tl::expected<FrameResampler, std::string> create(const ResamplerParams& params);

  // Resamples `in` (must be at in_rate) into the internal FIFO.
  void push(const Frame& in);
  // Pops one 20 ms frame at out_rate if a whole one is available.
  bool pop(Frame& out);
  std::size_t buffered_samples() const { return fifo_.size() - fifo_head_; }
  void reset();

private:
  explicit FrameResampler(StreamResampler rs);
  StreamResampler rs_;
  std::vector<int16_t> fifo_;
  std::size_t fifo_head_ = 0;
};

// Offline whole-clip conversion (libsoxr HQ). Returns the input unchanged if rates match.
tl::expected<PcmBuffer, std::string> resample_clip(const PcmBuffer& in, int out_rate_hz);

} // namespace pv::audio
