// FrameClock with an injected clock: deadlines are absolute (no drift however late each tick is
// served), the long-run rate is exact, a long stall re-anchors instead of bursting, and the speed
// factor scales (or removes) the pacing.

#include "audio/frame_clock.hpp"

#include <gtest/gtest.h>

#include <random>

namespace pv::audio {
namespace {

using namespace std::chrono_literals;
using time_point = ClockSource::time_point;

// Fake time: sleep_until jumps to the deadline plus a chosen lateness.
class FakeClock final : public ClockSource {
public:
  explicit FakeClock(uint32_t seed = 1, std::chrono::microseconds max_late = 0us)
      : rng_(seed), max_late_us_(max_late.count()) {}
  time_point now() override { return now_; }
  void sleep_until(time_point deadline) override {
    ++sleeps_;
    auto late = std::chrono::microseconds(
        max_late_us_ > 0 ? static_cast<int64_t>(rng_() % static_cast<uint64_t>(max_late_us_ + 1))
                         : 0);
    now_ = std::max(now_, deadline + late);
  }
  void advance(std::chrono::nanoseconds d) { now_ += d; }
  int64_t sleeps() const { return sleeps_; }

private:
  time_point now_{std::chrono::seconds(1000)};
  std::mt19937_64 rng_;
  int64_t max_late_us_;
  int64_t sleeps_ = 0;
};

TEST(FrameClock, LateTicksNeverDrift) {
  FakeClock clock(42, 15ms); // every tick served 0..15 ms late
  FrameClock fc(clock);
  fc.start();
  time_point const t0 = clock.now();
  std::chrono::nanoseconds max_lateness{0};
  for (int64_t k = 0; k < 10000; ++k) {
    Tick const tick = fc.wait_next();
    ASSERT_EQ(tick.index, k);
    ASSERT_EQ(tick.deadline, t0 + k * 20ms) << "tick " << k;
    ASSERT_FALSE(tick.reanchored);
    ASSERT_EQ(tick.lateness, clock.now() - tick.deadline);
    max_lateness = std::max(max_lateness, tick.lateness);
  }
  EXPECT_EQ(fc.ticks_served(), 10000);
  EXPECT_EQ(fc.reanchors(), 0);
  EXPECT_EQ(fc.media_time_ms(), 200000);
  EXPECT_GT(max_lateness, 10ms) << "the fake clock really served ticks late";
  // 10 000 ticks in fake time: 9 999 periods plus the last tick's lateness (<= 15 ms).
  double const seconds = std::chrono::duration<double>(clock.now() - t0).count();
  double const rate = 9999.0 / seconds;
  EXPECT_NEAR(rate, 50.0, 0.01);
}

TEST(FrameClock, FirstWaitStartsTheClock) {
  FakeClock clock;
  FrameClock fc(clock);
  time_point const t0 = clock.now();
  Tick const first = fc.wait_next();
  EXPECT_EQ(first.index, 0);
  EXPECT_EQ(first.deadline, t0);
  EXPECT_EQ(clock.sleeps(), 0) << "tick 0 is due at once";
  Tick const second = fc.wait_next();
  EXPECT_EQ(second.deadline, t0 + 20ms);
  EXPECT_EQ(clock.now(), t0 + 20ms);
}

TEST(FrameClock, ALateTickIsServedAtOnceAndTheNextStaysOnSchedule) {
  FakeClock clock;
  FrameClock fc(clock);
  fc.start();
  time_point const t0 = clock.now();
  fc.wait_next();
  clock.advance(55ms); // the loop body took 55 ms
  Tick const late = fc.wait_next();
  EXPECT_EQ(late.index, 1);
  EXPECT_EQ(late.lateness, 35ms);
  Tick const catch_up = fc.wait_next();
  EXPECT_EQ(catch_up.deadline, t0 + 40ms);
  EXPECT_EQ(catch_up.lateness, 15ms) << "due already: served without sleeping";
  Tick const back = fc.wait_next();
  EXPECT_EQ(back.deadline, t0 + 60ms);
  EXPECT_EQ(back.lateness, 0ms);
}

TEST(FrameClock, ALongStallReanchorsInsteadOfBursting) {
  FakeClock clock;
  FrameClock fc(clock, {20ms, 1.0, 1s});
  fc.start();
  for (int i = 0; i < 10; ++i) {
    fc.wait_next();
  }
  clock.advance(5s); // e.g. the process was suspended
  time_point const resumed = clock.now();
  Tick const t = fc.wait_next();
  EXPECT_TRUE(t.reanchored);
  EXPECT_EQ(t.index, 10);
  EXPECT_GT(t.lateness, 1s);
  EXPECT_EQ(fc.reanchors(), 1);
  // The next ticks follow the new anchor: one period apart, not a burst of 250 catch-up ticks.
  for (int k = 1; k <= 50; ++k) {
    Tick const n = fc.wait_next();
    ASSERT_EQ(n.deadline, resumed + k * 20ms);
    ASSERT_FALSE(n.reanchored);
  }
  EXPECT_EQ(clock.now(), resumed + 1s);
}

TEST(FrameClock, WithoutMaxCatchUpItBurstsToCatchUp) {
  FakeClock clock;
  FrameClock fc(clock, {20ms, 1.0, 0ns});
  fc.start();
  fc.wait_next();
  clock.advance(1s);
  int64_t const sleeps_before = clock.sleeps();
  for (int k = 1; k <= 50; ++k) {
    Tick const t = fc.wait_next();
    EXPECT_FALSE(t.reanchored);
  }
  EXPECT_EQ(clock.sleeps(), sleeps_before) << "all 50 missed ticks were already due";
  EXPECT_EQ(fc.reanchors(), 0);
}

TEST(FrameClock, SpeedFactorScalesThePeriodNotTheMediaTime) {
  FakeClock clock;
  FrameClock fc(clock, {20ms, 4.0, 1s});
  fc.start();
  time_point const t0 = clock.now();
  for (int k = 0; k < 100; ++k) {
    Tick const t = fc.wait_next();
    ASSERT_EQ(t.deadline, t0 + k * 5ms);
  }
  EXPECT_EQ(fc.media_time_ms(), 2000);
  EXPECT_EQ(clock.now(), t0 + 99 * 5ms);
}

TEST(FrameClock, SpeedZeroIsUnpaced) {
  FakeClock clock;
  FrameClock fc(clock, {20ms, 0.0, 1s});
  time_point const t0 = clock.now();
  for (int k = 0; k < 1000; ++k) {
    Tick const t = fc.wait_next();
    ASSERT_EQ(t.index, k);
  }
  EXPECT_EQ(clock.sleeps(), 0);
  EXPECT_EQ(clock.now(), t0);
  EXPECT_EQ(fc.media_time_ms(), 20000);
}

TEST(FrameClock, StartRestartsTheSchedule) {
  FakeClock clock;
  FrameClock fc(clock);
  for (int k = 0; k < 5; ++k) {
    fc.wait_next();
  }
  clock.advance(3ms);
  fc.start();
  time_point const t0 = clock.now();
  EXPECT_EQ(fc.ticks_served(), 0);
  EXPECT_EQ(fc.wait_next().deadline, t0);
  EXPECT_EQ(fc.wait_next().deadline, t0 + 20ms);
}

TEST(SystemClock, SleepsUntilTheDeadline) {
  auto& clock = SystemClock::instance();
  auto const start = clock.now();
  clock.sleep_until(start + 5ms);
  EXPECT_GE(clock.now() - start, 5ms); // a lower bound only: CI may be slow
}

} // namespace
} // namespace pv::audio
