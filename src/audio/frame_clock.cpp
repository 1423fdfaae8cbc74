#include "audio/frame_clock.hpp"

#include <thread>

namespace pv::audio {

ClockSource::time_point SystemClock::now() {
  return std::chrono::steady_clock::now();
}

void SystemClock::sleep_until(time_point deadline) {
  std::this_thread::sleep_until(deadline);
}

SystemClock& SystemClock::instance() {
  static SystemClock clock;
  return clock;
}

FrameClock::FrameClock(ClockSource& clock, const FrameClockParams& params)
    : clock_(clock), params_(params) {
  if (params_.speed > 0.0) {
    scaled_period_ = std::chrono::nanoseconds(
        static_cast<int64_t>(static_cast<double>(params_.period.count()) / params_.speed));
  }
}

void FrameClock::start() {
  PV_ASSERT_OWNER(owner_);
  t0_ = clock_.now();
  next_index_ = 0;
  anchor_index_ = 0;
  started_ = true;
}

ClockSource::time_point FrameClock::deadline_of(int64_t index) const {
  // Multiplying from the anchor (rather than adding a period per tick) keeps deadlines exact.
  return t0_ + (index - anchor_index_) * scaled_period_;
}

Tick FrameClock::wait_next() {
  PV_ASSERT_OWNER(owner_);
  if (!started_) {
    start();
  }
  Tick tick;
  tick.index = next_index_++;
  if (scaled_period_.count() <= 0) { // unpaced
    tick.deadline = clock_.now();
    return tick;
  }
  tick.deadline = deadline_of(tick.index);
  auto now = clock_.now();
  if (now < tick.deadline) {
    clock_.sleep_until(tick.deadline);
    now = clock_.now();
  }
  tick.lateness = now > tick.deadline ? now - tick.deadline : std::chrono::nanoseconds(0);
  if (params_.max_catch_up.count() > 0 && tick.lateness > params_.max_catch_up) {
    // E.g. the process was suspended: restart the schedule here instead of bursting catch-up ticks.
    t0_ = now;
    anchor_index_ = tick.index;
    ++reanchors_;
    tick.reanchored = true;
  }
  return tick;
}

int64_t FrameClock::media_time_ms() const {
  return next_index_ * params_.period.count() / 1'000'000;
}

} // namespace pv::audio
