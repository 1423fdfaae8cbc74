// The real FrameClock on this machine: 500 ticks (10 s) paced by SystemClock, one iteration.
// Reports frames per second over the run and the lateness of ticks (how long after its deadline
// each tick was served; the next deadline does not move, so lateness does not accumulate).
// Other work on the machine shows up here: run it on a quiet machine.

#include "audio/frame_clock.hpp"

#include <benchmark/benchmark.h>

#include <algorithm>
#include <vector>

namespace {

using namespace pv::audio;

void BM_FrameClockRate(benchmark::State& state) {
  int const ticks = static_cast<int>(state.range(0));
  for (auto _ : state) {
    FrameClock clock(SystemClock::instance());
    std::vector<double> lateness_us;
    lateness_us.reserve(static_cast<std::size_t>(ticks));
    Tick first = clock.wait_next();
    Tick last = first;
    for (int k = 1; k < ticks; ++k) {
      last = clock.wait_next();
      lateness_us.push_back(std::chrono::duration<double, std::micro>(last.lateness).count());
    }
    auto const served = SystemClock::instance().now();
    double const seconds = std::chrono::duration<double>(served - first.deadline).count();
    std::sort(lateness_us.begin(), lateness_us.end());
    double sum = 0;
    for (double l : lateness_us) {
      sum += l;
    }
    state.counters["fps"] = (ticks - 1) / seconds;
    state.counters["late_mean_us"] = sum / static_cast<double>(lateness_us.size());
    state.counters["late_p99_us"] = lateness_us[lateness_us.size() * 99 / 100];
    state.counters["late_max_us"] = lateness_us.back();
    state.counters["reanchors"] = static_cast<double>(clock.reanchors());
  }
}
BENCHMARK(BM_FrameClockRate)->Arg(501)->Iterations(1)->Unit(benchmark::kMillisecond)->UseRealTime();

} // namespace

BENCHMARK_MAIN();
