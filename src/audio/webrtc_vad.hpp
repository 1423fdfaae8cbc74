#pragma once
// WebRTC's GMM voice-activity detector (the `WebRtcVad_*` C API exported by Debian's
// libwebrtc-audio-processing; the package ships no header, so the five functions are declared in
// webrtc_vad.cpp and were checked against the library with `nm -D` / `objdump -d`).
//
// Owner: one thread (whoever calls is_speech first; in the cascade the VAD worker that runs the
// segmenter). Every call is CPU-only and bounded (a few µs per frame); nothing blocks.
//
// Frames: 10, 20 or 30 ms of mono s16 at the configured rate (8, 16, 32 or 48 kHz; the cascade
// uses 16 kHz). Mode 0 (least aggressive: says "speech" most readily) .. 3 (most aggressive).

#include "util/thread_owner.hpp"

#include <cstdint>
#include <span>
#include <string>

#include <tl/expected.hpp>

struct WebRtcVadInst; // opaque library handle

namespace pv::audio {

enum class VadErrorKind {
  invalid_params, // mode or sample rate out of range, inconsistent segmenter settings
  invalid_frame,  // wrong frame length for the sample rate
  library,        // the library refused (allocation or internal failure)
};

struct VadError {
  VadErrorKind kind;
  std::string message;
};

struct WebRtcVadParams {
  int mode = 2;               // 0..3
  int sample_rate_hz = 16000; // 8000, 16000, 32000 or 48000
};

class WebRtcVad {
public:
  static tl::expected<WebRtcVad, VadError> create(const WebRtcVadParams& params = {});

  WebRtcVad(WebRtcVad&& other) noexcept;
  WebRtcVad& operator=(WebRtcVad&& other) noexcept;
  WebRtcVad(const WebRtcVad&) = delete;
  WebRtcVad& operator=(const WebRtcVad&) = delete;
  ~WebRtcVad();

  // True when the frame holds speech. Errors only for a frame of the wrong length.
  tl::expected<bool, VadError> is_speech(std::span<const int16_t> frame);

  tl::expected<void, VadError> set_mode(int mode);
  int mode() const { return mode_; }
  int sample_rate() const { return sample_rate_hz_; }

  // Forgets the adaptive noise model (keeps the mode), e.g. between sessions.
  void reset();

  // Whether `samples` is a frame length the detector accepts at `sample_rate_hz`.
  static bool valid_frame_length(int sample_rate_hz, std::size_t samples);

private:
  WebRtcVad(WebRtcVadInst* handle, int mode, int sample_rate_hz);

  WebRtcVadInst* handle_ = nullptr;
  int mode_ = 2;
  int sample_rate_hz_ = 16000;
  util::ThreadOwner owner_; // not moved: a moved-to object binds to its first user
};

} // namespace pv::audio
