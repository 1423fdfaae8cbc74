#include "audio/mixer.hpp"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <cstdlib>

namespace pv::audio {
namespace {

constexpr double kFullScale = 32768.0;
constexpr double kFloorDbfs = -120.0;

int16_t saturate(int32_t v) {
  return static_cast<int16_t>(std::clamp<int32_t>(v, INT16_MIN, INT16_MAX));
}

int32_t scaled(int16_t s, float gain) {
  // Unity gain is the common case: keep it exact and cheap.
  return gain == 1.0f ? s : static_cast<int32_t>(std::lrint(static_cast<double>(s) * gain));
}

} // namespace

void mix_into(std::span<int16_t> acc, std::span<const int16_t> src, float gain) {
  assert(acc.size() == src.size());
  std::size_t const n = std::min(acc.size(), src.size());
  for (std::size_t i = 0; i < n; ++i) {
    acc[i] = saturate(static_cast<int32_t>(acc[i]) + scaled(src[i], gain));
  }
}

Mixer::Mixer(int sample_rate_hz) : rate_(sample_rate_hz) {
  acc_.reserve(kMaxFrameSamples);
  out_.reserve(kMaxFrameSamples);
}

Mixer::Mixer(Mixer&& other) noexcept
    : rate_(other.rate_), acc_(std::move(other.acc_)), out_(std::move(other.out_)) {}

Mixer& Mixer::operator=(Mixer&& other) noexcept {
  rate_ = other.rate_;
  acc_ = std::move(other.acc_);
  out_ = std::move(other.out_);
  owner_.release();
  return *this;
}

void Mixer::begin(std::size_t samples) {
  PV_ASSERT_OWNER(owner_);
  acc_.assign(samples, 0);
  out_.assign(samples, 0);
}

void Mixer::add(std::span<const int16_t> src, float gain) {
  PV_ASSERT_OWNER(owner_);
  assert(src.size() == acc_.size());
  std::size_t const n = std::min(acc_.size(), src.size());
  for (std::size_t i = 0; i < n; ++i) {
    acc_[i] += scaled(src[i], gain);
    out_[i] = saturate(acc_[i]);
  }
}

std::span<const int16_t> Mixer::result() const {
  return out_;
}

double rms_dbfs(std::span<const int16_t> samples) {
  if (samples.empty()) {
    return kFloorDbfs;
  }
  double sum = 0.0;
  for (int16_t s : samples) {
    sum += static_cast<double>(s) * s;
  }
  double const rms = std::sqrt(sum / static_cast<double>(samples.size()));
  if (rms <= 0.0) {
    return kFloorDbfs;
  }
  return std::max(kFloorDbfs, 20.0 * std::log10(rms / kFullScale));
}

int peak_abs(std::span<const int16_t> samples) {
  int peak = 0;
  for (int16_t s : samples) {
    peak = std::max(peak, std::abs(static_cast<int>(s)));
  }
  return peak;
}

} // namespace pv::audio
