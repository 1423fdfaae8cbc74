#include "net/backoff.hpp"

#include <vector>

#include <gtest/gtest.h>

namespace pv::net {
namespace {

using std::chrono::milliseconds;

std::vector<milliseconds> draw(Backoff& backoff, int n) {
  std::vector<milliseconds> out;
  for (int i = 0; i < n; ++i) {
    out.push_back(backoff.next());
  }
  return out;
}

TEST(Backoff, WithoutJitterDoublesUpToTheCap) {
  Backoff backoff({milliseconds(100), milliseconds(1000), 2.0, BackoffJitter::none, 1});
  EXPECT_EQ(draw(backoff, 6),
            (std::vector<milliseconds>{milliseconds(100), milliseconds(200), milliseconds(400),
                                       milliseconds(800), milliseconds(1000), milliseconds(1000)}));
  EXPECT_EQ(backoff.attempts(), 6u);
}

TEST(Backoff, FullJitterStaysWithinTheGrowingCeiling) {
  Backoff backoff({milliseconds(100), milliseconds(5000), 2.0, BackoffJitter::full, 42});
  double ceiling = 100;
  bool varied = false;
  milliseconds first = backoff.next();
  EXPECT_EQ(first, milliseconds(100)); // the first ceiling is the minimum
  ceiling *= 2;
  for (int i = 0; i < 200; ++i) {
    const milliseconds delay = backoff.next();
    EXPECT_GE(delay, milliseconds(100));
    EXPECT_LE(delay.count(), static_cast<long long>(std::min(ceiling, 5000.0)));
    varied = varied || delay != milliseconds(100);
    ceiling *= 2;
  }
  EXPECT_TRUE(varied);
}

TEST(Backoff, FullJitterEventuallyUsesTheWholeRange) {
  Backoff backoff({milliseconds(10), milliseconds(1000), 2.0, BackoffJitter::full, 7});
  draw(backoff, 10); // ceiling now at the cap
  milliseconds low = milliseconds::max();
  milliseconds high = milliseconds::zero();
  for (int i = 0; i < 2000; ++i) {
    const milliseconds d = backoff.next();
    low = std::min(low, d);
    high = std::max(high, d);
  }
  EXPECT_LT(low, milliseconds(100));
  EXPECT_GT(high, milliseconds(900));
  EXPECT_LE(high, milliseconds(1000));
}

TEST(Backoff, DecorrelatedJitterBounds) {
  Backoff backoff({milliseconds(50), milliseconds(2000), 2.0, BackoffJitter::decorrelated, 3});
  milliseconds previous(50);
  for (int i = 0; i < 500; ++i) {
    const milliseconds d = backoff.next();
    EXPECT_GE(d, milliseconds(50));
    EXPECT_LE(d, milliseconds(2000));
    EXPECT_LE(d, std::max(milliseconds(50), previous * 3));
    previous = d;
  }
}

TEST(Backoff, ResetStartsOver) {
  for (BackoffJitter jitter : {BackoffJitter::none, BackoffJitter::full}) {
    Backoff backoff({milliseconds(100), milliseconds(10000), 3.0, jitter, 9});
    draw(backoff, 5);
    backoff.reset();
    EXPECT_EQ(backoff.attempts(), 0u);
    EXPECT_EQ(backoff.next(), milliseconds(100));
    EXPECT_LE(backoff.next(), milliseconds(300));
  }
}

TEST(Backoff, SameSeedSameSequenceDifferentSeedDifferentSequence) {
  for (BackoffJitter jitter : {BackoffJitter::full, BackoffJitter::decorrelated}) {
    Backoff a({milliseconds(10), milliseconds(60000), 2.0, jitter, 1234});
    Backoff b({milliseconds(10), milliseconds(60000), 2.0, jitter, 1234});
    Backoff c({milliseconds(10), milliseconds(60000), 2.0, jitter, 4321});
    const auto sa = draw(a, 30);
    EXPECT_EQ(sa, draw(b, 30));
    EXPECT_NE(sa, draw(c, 30));
  }
}

TEST(Backoff, BadParametersAreClamped) {
  Backoff backoff({milliseconds(500), milliseconds(100), 0.5, BackoffJitter::none, 1});
  EXPECT_EQ(backoff.next(), milliseconds(500));
  EXPECT_EQ(backoff.next(), milliseconds(500));
}

} // namespace
} // namespace pv::net
