#pragma once
// Paces the 20 ms audio path from ABSOLUTE deadlines: tick k is due at t0 + k * period. A late
// tick is served at once and the next one is still due at t0 + (k+1) * period, so lateness never
// accumulates into drift (the original's setInterval(20) delivered ~48.5-49.3 frames/s).
// The clock source is injectable so tests can serve ticks late by chosen amounts.
//
// Threading: a FrameClock belongs to the thread that runs the audio loop (util::ThreadOwner,
// checked in debug builds). SystemClock is stateless and shared.

#include "util/thread_owner.hpp"

#include <chrono>
#include <cstdint>

namespace pv::audio {

class ClockSource {
public:
  using time_point = std::chrono::steady_clock::time_point;
  virtual ~ClockSource() = default;
  virtual time_point now() = 0;
  virtual void sleep_until(time_point deadline) = 0;
};

// steady_clock + sleep_until.
class SystemClock final : public ClockSource {
public:
  time_point now() override;
  void sleep_until(time_point deadline) override;
  static SystemClock& instance();
};

struct Tick {
  int64_t index = 0;                    // k, from 0
  ClockSource::time_point deadline;     // t0 + k * period (scaled by the speed factor)
  std::chrono::nanoseconds lateness{0}; // now - deadline when served (>= 0)
  // This tick was later than max_catch_up: the schedule restarts from it (t0 := now, so tick k+1
  // is due one period after this tick was served; the missed ticks are skipped, not burst).
  bool reanchored = false;
};

struct FrameClockParams {
  std::chrono::nanoseconds period = std::chrono::milliseconds(20);
  // Speed factor: 1.0 = real time; 4.0 = four times faster; 0 (or negative) = unpaced (as fast as
  // possible: wait_next never sleeps, deadline = now).
  double speed = 1.0;
  // If a tick is later than this, the schedule re-anchors (e.g. after the process was suspended)
  // instead of bursting hundreds of catch-up ticks. 0 = never re-anchor.
  std::chrono::nanoseconds max_catch_up = std::chrono::seconds(1);
};

class FrameClock {
public:
  explicit FrameClock(ClockSource& clock, const FrameClockParams& params = {});

  // Sets t0 = now (tick 0 is due at once). Called implicitly by the first wait_next(); calling it
  // again restarts the schedule and the tick count.
  void start();
  // Waits until the next tick's deadline (returns at once if it is already due).
  Tick wait_next();

  int64_t ticks_served() const { return next_index_; }
  int64_t reanchors() const { return reanchors_; }
  // Media time of the next tick, in ms since start (index * period; not scaled by speed).
  int64_t media_time_ms() const;
  // Deadline of tick `index` on the current schedule (valid after start()).
  ClockSource::time_point deadline_of(int64_t index) const;

private:
  ClockSource& clock_;
  FrameClockParams params_;
  ClockSource::time_point t0_{}; // deadline of tick anchor_index_
  std::chrono::nanoseconds scaled_period_{};
  int64_t next_index_ = 0;
  int64_t anchor_index_ = 0;
  int64_t reanchors_ = 0;
  bool started_ = false;
  util::ThreadOwner owner_;
};

} // namespace pv::audio
