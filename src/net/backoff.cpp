#include "net/backoff.hpp"

#include <algorithm>

namespace pv::net {

namespace {
uint64_t seed_from(const std::optional<uint64_t>& seed) {
  if (seed) {
    return *seed;
  }
  std::random_device device;
  return (static_cast<uint64_t>(device()) << 32) ^ device();
}
} // namespace

Backoff::Backoff(const BackoffParams& params) : params_(params), rng_(seed_from(params.seed)) {
  params_.min_delay = std::max(params_.min_delay, std::chrono::milliseconds(0));
  params_.max_delay = std::max(params_.max_delay, params_.min_delay);
  params_.multiplier = std::max(params_.multiplier, 1.0);
  reset();
}

void Backoff::reset() {
  PV_ASSERT_OWNER(owner_);
  attempts_ = 0;
  ceiling_ms_ = params_.min_delay.count();
  previous_ms_ = params_.min_delay.count();
}

int64_t Backoff::uniform(int64_t low, int64_t high) {
  if (high <= low) {
    return low;
  }
  // Plain modulo reduction of a 64-bit draw: the bias is below 2^-40 for spans under 2^24 ms,
  // and unlike std::uniform_int_distribution the mapping is the same with every standard library.
  const auto span = static_cast<uint64_t>(high - low) + 1;
  return low + static_cast<int64_t>(rng_() % span);
}

std::chrono::milliseconds Backoff::next() {
  PV_ASSERT_OWNER(owner_);
  const int64_t min_ms = params_.min_delay.count();
  const int64_t max_ms = params_.max_delay.count();
  int64_t delay = min_ms;
  switch (params_.jitter) {
  case BackoffJitter::none:
    delay = ceiling_ms_;
    break;
  case BackoffJitter::full:
    delay = uniform(min_ms, ceiling_ms_);
    break;
  case BackoffJitter::decorrelated:
    delay = std::min(max_ms, uniform(min_ms, std::max(min_ms, previous_ms_ * 3)));
    previous_ms_ = delay;
    break;
  }
  ++attempts_;
  const double grown = static_cast<double>(ceiling_ms_) * params_.multiplier;
  ceiling_ms_ = grown >= static_cast<double>(max_ms) ? max_ms : static_cast<int64_t>(grown);
  if (ceiling_ms_ == 0 && params_.multiplier > 1.0 && max_ms > 0) {
    ceiling_ms_ = 1; // a zero minimum must still grow
  }
  return std::chrono::milliseconds(std::clamp(delay, min_ms, max_ms));
}

} // namespace pv::net
