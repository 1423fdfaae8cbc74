#include "audio/resampler.hpp"

#include "util/thread_owner.hpp"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <cstring>

#include <soxr.h>
#include <speex/speex_resampler.h>

namespace pv::audio {
namespace {

constexpr int kMinRateHz = 1000;
constexpr int kMaxRateHz = 384000;

bool rate_ok(int hz) {
  return hz >= kMinRateHz && hz <= kMaxRateHz;
}

} // namespace

struct StreamResampler::Impl {
  SpeexResamplerState* state = nullptr;
  util::ThreadOwner owner;

  ~Impl() {
    if (state != nullptr) {
      speex_resampler_destroy(state);
    }
  }
};

tl::expected<StreamResampler, std::string> StreamResampler::create(const ResamplerParams& params) {
  if (!rate_ok(params.in_rate_hz) || !rate_ok(params.out_rate_hz)) {
    return tl::unexpected("resampler: rates must be within 1000..384000 Hz (got " +
                          std::to_string(params.in_rate_hz) + " -> " +
                          std::to_string(params.out_rate_hz) + ")");
  }
  if (params.quality < 0 || params.quality > 10) {
    return tl::unexpected("resampler: speexdsp quality must be 0..10 (got " +
                          std::to_string(params.quality) + ")");
  }
  int err = 0;
  auto impl = std::make_unique<Impl>();
  impl->state =
      speex_resampler_init(1, static_cast<spx_uint32_t>(params.in_rate_hz),
                           static_cast<spx_uint32_t>(params.out_rate_hz), params.quality, &err);
  if (impl->state == nullptr || err != RESAMPLER_ERR_SUCCESS) {
    return tl::unexpected(std::string("resampler: speex_resampler_init failed: ") +
                          speex_resampler_strerror(err));
  }
  return StreamResampler(params, std::move(impl));
}

StreamResampler::StreamResampler(const ResamplerParams& params, std::unique_ptr<Impl> impl)
    : params_(params), impl_(std::move(impl)) {}

StreamResampler::StreamResampler(StreamResampler&& other) noexcept
    : params_(other.params_), impl_(std::move(other.impl_)) {
  if (impl_) {
    impl_->owner.release(); // the new holder may live on another thread
  }
}

StreamResampler& StreamResampler::operator=(StreamResampler&& other) noexcept {
  params_ = other.params_;
  impl_ = std::move(other.impl_);
  if (impl_) {
    impl_->owner.release();
  }
  return *this;
}

StreamResampler::~StreamResampler() = default;

void StreamResampler::process(std::span<const int16_t> in, std::vector<int16_t>& out) {
  PV_ASSERT_OWNER(impl_->owner);
  std::size_t consumed = 0;
  while (consumed < in.size()) {
    std::size_t const remaining = in.size() - consumed;
    // Upper bound of the output for `remaining` inputs, plus slack for the fractional phase.
    std::size_t const room = remaining * static_cast<std::size_t>(params_.out_rate_hz) /
                                 static_cast<std::size_t>(params_.in_rate_hz) +
                             4;
    std::size_t const base = out.size();
    out.resize(base + room);
    auto in_len = static_cast<spx_uint32_t>(remaining);
    auto out_len = static_cast<spx_uint32_t>(room);
    speex_resampler_process_int(impl_->state, 0, in.data() + consumed, &in_len, out.data() + base,
                                &out_len);
    out.resize(base + out_len);
    consumed += in_len;
    if (in_len == 0 && out_len == 0) {
      break; // cannot happen with room > 0; guards against an endless loop
    }
  }
}

void StreamResampler::reset() {
  PV_ASSERT_OWNER(impl_->owner);
  speex_resampler_reset_mem(impl_->state);
}

int StreamResampler::output_latency_samples() const {
  return speex_resampler_get_output_latency(impl_->state);
}

// ---------------------------------------------------------------------------------------------

tl::expected<FrameResampler, std::string> FrameResampler::create(const ResamplerParams& params) {
  auto rs = StreamResampler::create(params);
  if (!rs) {
    return tl::unexpected(rs.error());
  }
  return FrameResampler(std::move(*rs));
}

FrameResampler::FrameResampler(StreamResampler rs) : rs_(std::move(rs)) {
  // Room for a few frames so that steady-state pushes never reallocate.
  fifo_.reserve(
      static_cast<std::size_t>(4 * samples_per_frame(std::max(rs_.out_rate(), kRoomRateHz))));
}

void FrameResampler::push(const Frame& in) {
  assert(in.sample_rate() == rs_.in_rate());
  // Move the unread tail to the front before appending, so the buffer never grows in steady state.
  if (fifo_head_ > 0) {
    std::size_t const unread = fifo_.size() - fifo_head_;
    std::memmove(fifo_.data(), fifo_.data() + fifo_head_, unread * sizeof(int16_t));
    fifo_.resize(unread);
    fifo_head_ = 0;
  }
  rs_.process(in.samples(), fifo_);
}

bool FrameResampler::pop(Frame& out) {
  auto const n = static_cast<std::size_t>(samples_per_frame(rs_.out_rate()));
  if (buffered_samples() < n) {
    return false;
  }
  out.set_sample_rate(rs_.out_rate());
  out.resize(n);
  std::memcpy(out.samples().data(), fifo_.data() + fifo_head_, n * sizeof(int16_t));
  fifo_head_ += n;
  return true;
}

void FrameResampler::reset() {
  rs_.reset();
  fifo_.clear();
  fifo_head_ = 0;
}

// ---------------------------------------------------------------------------------------------

tl::expected<PcmBuffer, std::string> resample_clip(const PcmBuffer& in, int out_rate_hz) {
  if (!rate_ok(in.sample_rate) || !rate_ok(out_rate_hz)) {
    return tl::unexpected("resample_clip: rates must be within 1000..384000 Hz (got " +
                          std::to_string(in.sample_rate) + " -> " + std::to_string(out_rate_hz) +
                          ")");
  }
  if (in.sample_rate == out_rate_hz) {
    return in;
  }
  PcmBuffer out;
  out.sample_rate = out_rate_hz;
  if (in.samples.empty()) {
    return out;
  }
  double const ratio = static_cast<double>(out_rate_hz) / in.sample_rate;
  auto const expected_len =
      static_cast<std::size_t>(std::llround(static_cast<double>(in.samples.size()) * ratio));
  out.samples.resize(expected_len);
  soxr_io_spec_t const io = soxr_io_spec(SOXR_INT16_I, SOXR_INT16_I);
  soxr_quality_spec_t const quality = soxr_quality_spec(SOXR_HQ, 0);
  std::size_t done = 0;
  soxr_error_t const err =
      soxr_oneshot(in.sample_rate, out_rate_hz, 1, in.samples.data(), in.samples.size(), nullptr,
                   out.samples.data(), out.samples.size(), &done, &io, &quality, nullptr);
  if (err != nullptr) {
    return tl::unexpected(std::string("resample_clip: soxr failed: ") + err);
  }
  out.samples.resize(done);
  return out;
}

} // namespace pv::audio
