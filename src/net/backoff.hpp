#pragma once
// Exponential backoff with jitter for reconnects and retries.
//
//  * none:         delay_n = min(max, min_delay * multiplier^n)
//  * full:         delay_n = uniform[min_delay, min(max, min_delay * multiplier^n)]
//                  (AWS "full jitter", floored at min_delay)
//  * decorrelated: delay_n = min(max, uniform[min_delay, previous * 3]), previous_0 = min_delay
//
// n counts calls to next() since construction or reset(). With `seed` set the sequence is
// reproducible (tests); otherwise it is seeded from std::random_device.
//
// Owner: one thread (checked with util::ThreadOwner in debug builds; it binds on first use).

#include "util/thread_owner.hpp"

#include <chrono>
#include <cstdint>
#include <optional>
#include <random>

namespace pv::net {

enum class BackoffJitter { none, full, decorrelated };

struct BackoffParams {
  std::chrono::milliseconds min_delay{250};
  std::chrono::milliseconds max_delay{30000};
  double multiplier = 2.0; // growth per attempt (>= 1)
  BackoffJitter jitter = BackoffJitter::full;
  std::optional<uint64_t> seed;
};

class Backoff {
public:
  // Out-of-range parameters are clamped: min_delay >= 0, max_delay >= min_delay, multiplier >= 1.
  explicit Backoff(const BackoffParams& params = {});

  // The delay before the next attempt.
  std::chrono::milliseconds next();
  // After a success: the next delay starts from min_delay again.
  void reset();
  // Calls to next() since construction or reset().
  uint32_t attempts() const { return attempts_; }

private:
  int64_t uniform(int64_t low, int64_t high); // inclusive, deterministic for a given seed

  BackoffParams params_;
  std::mt19937_64 rng_;
  uint32_t attempts_ = 0;
  int64_t ceiling_ms_ = 0;  // exponential ceiling of the next attempt
  int64_t previous_ms_ = 0; // decorrelated jitter state
  util::ThreadOwner owner_;
};

} // namespace pv::net
