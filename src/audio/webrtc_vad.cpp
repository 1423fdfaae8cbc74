#include "audio/webrtc_vad.hpp"

#include <utility>

// libwebrtc-audio-processing 0.3 exports these without a header. Signatures checked against the
// Debian build: WebRtcVad_Create mallocs and returns the instance in %rax (no out-parameter), and
// WebRtcVad_Process compares the frame length as a 64-bit value (size_t).
extern "C" {
WebRtcVadInst* WebRtcVad_Create();
void WebRtcVad_Free(WebRtcVadInst* handle);
int WebRtcVad_Init(WebRtcVadInst* handle);
int WebRtcVad_set_mode(WebRtcVadInst* handle, int mode);
int WebRtcVad_Process(WebRtcVadInst* handle, int fs, const int16_t* audio_frame,
                      size_t frame_length);
}

namespace pv::audio {

namespace {

bool valid_rate(int rate) {
  return rate == 8000 || rate == 16000 || rate == 32000 || rate == 48000;
}

} // namespace

bool WebRtcVad::valid_frame_length(int sample_rate_hz, std::size_t samples) {
  if (!valid_rate(sample_rate_hz)) {
    return false;
  }
  const auto per_ms = static_cast<std::size_t>(sample_rate_hz / 1000);
  return samples == per_ms * 10 || samples == per_ms * 20 || samples == per_ms * 30;
}

tl::expected<WebRtcVad, VadError> WebRtcVad::create(const WebRtcVadParams& params) {
  if (params.mode < 0 || params.mode > 3) {
    return tl::unexpected(
        VadError{VadErrorKind::invalid_params,
                 "VAD mode " + std::to_string(params.mode) + " is out of range (accepted: 0..3)"});
  }
  if (!valid_rate(params.sample_rate_hz)) {
    return tl::unexpected(
        VadError{VadErrorKind::invalid_params,
                 "VAD sample rate " + std::to_string(params.sample_rate_hz) +
                     " Hz is not supported (accepted: 8000, 16000, 32000, 48000)"});
  }
  WebRtcVadInst* handle = WebRtcVad_Create();
  if (handle == nullptr) {
    return tl::unexpected(VadError{VadErrorKind::library, "WebRtcVad_Create failed"});
  }
  if (WebRtcVad_Init(handle) != 0 || WebRtcVad_set_mode(handle, params.mode) != 0) {
    WebRtcVad_Free(handle);
    return tl::unexpected(VadError{VadErrorKind::library, "WebRtcVad_Init/set_mode failed"});
  }
  return WebRtcVad(handle, params.mode, params.sample_rate_hz);
}

WebRtcVad::WebRtcVad(WebRtcVadInst* handle, int mode, int sample_rate_hz)
    : handle_(handle), mode_(mode), sample_rate_hz_(sample_rate_hz) {}

WebRtcVad::WebRtcVad(WebRtcVad&& other) noexcept
    : handle_(std::exchange(other.handle_, nullptr)), mode_(other.mode_),
      sample_rate_hz_(other.sample_rate_hz_) {}

WebRtcVad& WebRtcVad::operator=(WebRtcVad&& other) noexcept {
  if (this != &other) {
    if (handle_ != nullptr) {
      WebRtcVad_Free(handle_);
    }
    handle_ = std::exchange(other.handle_, nullptr);
    mode_ = other.mode_;
    sample_rate_hz_ = other.sample_rate_hz_;
    owner_.release();
  }
  return *this;
}

WebRtcVad::~WebRtcVad() {
  if (handle_ != nullptr) {
    WebRtcVad_Free(handle_);
  }
}

tl::expected<bool, VadError> WebRtcVad::is_speech(std::span<const int16_t> frame) {
  PV_ASSERT_OWNER(owner_);
  if (!valid_frame_length(sample_rate_hz_, frame.size())) {
    return tl::unexpected(
        VadError{VadErrorKind::invalid_frame, "VAD frame of " + std::to_string(frame.size()) +
                                                  " samples is not 10, 20 or 30 ms at " +
                                                  std::to_string(sample_rate_hz_) + " Hz"});
  }
  const int result = WebRtcVad_Process(handle_, sample_rate_hz_, frame.data(), frame.size());
  if (result < 0) {
    return tl::unexpected(VadError{VadErrorKind::library, "WebRtcVad_Process failed"});
  }
  return result == 1;
}

tl::expected<void, VadError> WebRtcVad::set_mode(int mode) {
  PV_ASSERT_OWNER(owner_);
  if (mode < 0 || mode > 3) {
    return tl::unexpected(
        VadError{VadErrorKind::invalid_params,
                 "VAD mode " + std::to_string(mode) + " is out of range (accepted: 0..3)"});
  }
  if (WebRtcVad_set_mode(handle_, mode) != 0) {
    return tl::unexpected(VadError{VadErrorKind::library, "WebRtcVad_set_mode failed"});
  }
  mode_ = mode;
  return {};
}

void WebRtcVad::reset() {
  PV_ASSERT_OWNER(owner_);
  // Init restores the default mode, so set ours again.
  WebRtcVad_Init(handle_);
  WebRtcVad_set_mode(handle_, mode_);
}

} // namespace pv::audio
