// PlayoutBuffer: order preserved, oldest dropped beyond the depth bound (and counted), underruns
// counted only mid-stream, end_stream drains without an underrun, flush is immediate, prebuffer
// holds the start of a stream, and a concurrent producer/consumer pair loses or duplicates nothing
// (checked with a counting ramp).

#include "audio/playout_buffer.hpp"

#include "support/signal.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <random>
#include <thread>

namespace pv::audio {
namespace {

using testsupport::counting_ramp;
using testsupport::ramp_value;

constexpr std::size_t kFrame = 960; // 20 ms at 48 kHz

PlayoutBuffer make(int max_depth_ms = 200, int prebuffer_ms = 0) {
  return PlayoutBuffer({kRoomRateHz, max_depth_ms, prebuffer_ms});
}

void expect_invariant(const PlayoutBuffer& b) {
  auto const s = b.stats();
  EXPECT_EQ(s.pushed_samples, s.played_samples + s.dropped_samples + s.flushed_samples +
                                  static_cast<int64_t>(b.buffered_samples()));
}

TEST(PlayoutBuffer, PlaysPushedAudioInOrderThenSilence) {
  auto b = make();
  auto const ramp = counting_ramp(0, 1500);
  EXPECT_EQ(b.push(ramp), 0u);
  EXPECT_EQ(b.buffered_samples(), 1500u);
  EXPECT_EQ(b.buffered_ms(), 31);
  std::vector<int16_t> out(kFrame, 99);
  EXPECT_EQ(b.pull(out), kFrame);
  EXPECT_EQ(out, counting_ramp(0, kFrame));
  EXPECT_EQ(b.pull(out), 540u);
  EXPECT_EQ(std::vector<int16_t>(out.begin(), out.begin() + 540), counting_ramp(960, 540));
  EXPECT_TRUE(std::all_of(out.begin() + 540, out.end(), [](int16_t s) { return s == 0; }));
  expect_invariant(b);
}

TEST(PlayoutBuffer, DropsTheOldestBeyondMaxDepth) {
  auto b = make(200); // 9600 samples
  EXPECT_EQ(b.capacity_samples(), 9600u);
  EXPECT_EQ(b.push(counting_ramp(0, 6000)), 0u);
  EXPECT_EQ(b.push(counting_ramp(6000, 6000)), 2400u); // 12000 > 9600: 2400 oldest dropped
  EXPECT_EQ(b.buffered_samples(), 9600u);
  EXPECT_EQ(b.free_samples(), 0u);
  EXPECT_EQ(b.stats().dropped_samples, 2400);
  std::vector<int16_t> out(9600);
  EXPECT_EQ(b.pull(out), 9600u);
  EXPECT_EQ(out, counting_ramp(2400, 9600)) << "the newest 200 ms remain, in order";
  expect_invariant(b);
}

TEST(PlayoutBuffer, APushLargerThanTheBufferKeepsItsNewestPart) {
  auto b = make(100); // 4800 samples
  b.push(counting_ramp(0, 1000));
  EXPECT_EQ(b.push(counting_ramp(1000, 10000)), 1000u + 5200u);
  std::vector<int16_t> out(4800);
  EXPECT_EQ(b.pull(out), 4800u);
  EXPECT_EQ(out, counting_ramp(6200, 4800));
  expect_invariant(b);
}

TEST(PlayoutBuffer, WrapsAroundTheRingWithoutLosingOrder) {
  auto b = make(40); // 1920 samples
  std::vector<int16_t> out(700);
  int64_t written = 0;
  int64_t read = 0;
  for (int i = 0; i < 200; ++i) {
    std::size_t const n = 300 + static_cast<std::size_t>(i % 5) * 97;
    ASSERT_EQ(b.push(counting_ramp(written, n)), 0u);
    written += static_cast<int64_t>(n);
    while (b.buffered_samples() >= out.size()) {
      ASSERT_EQ(b.pull(out), out.size());
      ASSERT_EQ(out, counting_ramp(read, out.size()));
      read += static_cast<int64_t>(out.size());
    }
  }
  EXPECT_EQ(b.stats().dropped_samples, 0);
}

TEST(PlayoutBuffer, UnderrunsCountOnlyMidStream) {
  auto b = make();
  std::vector<int16_t> out(kFrame);
  // Idle: silence is not an underrun.
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(b.pull(out), 0u);
  }
  EXPECT_EQ(b.stats().underruns, 0);
  EXPECT_FALSE(b.active());

  b.push(counting_ramp(0, 1440)); // 30 ms
  EXPECT_TRUE(b.active());
  EXPECT_EQ(b.pull(out), kFrame);
  EXPECT_EQ(b.stats().underruns, 0);
  EXPECT_EQ(b.pull(out), 480u); // ran dry mid-stream
  EXPECT_EQ(b.stats().underruns, 1);
  EXPECT_EQ(b.pull(out), 0u); // still dry, stream not ended
  EXPECT_EQ(b.stats().underruns, 2);

  // The late audio plays at the next pull (no re-prebuffering).
  b.push(counting_ramp(1440, kFrame));
  EXPECT_EQ(b.pull(out), kFrame);
  EXPECT_EQ(out, counting_ramp(1440, kFrame));
  EXPECT_EQ(b.stats().underruns, 2);

  // End of stream with nothing queued: idle at once, no more underruns.
  b.end_stream();
  EXPECT_FALSE(b.active());
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(b.pull(out), 0u);
  }
  EXPECT_EQ(b.stats().underruns, 2);
  expect_invariant(b);
}

TEST(PlayoutBuffer, EndStreamDrainsWithoutAnUnderrun) {
  auto b = make();
  std::vector<int16_t> out(kFrame);
  b.push(counting_ramp(0, 1500));
  b.end_stream();
  EXPECT_TRUE(b.active());
  EXPECT_EQ(b.pull(out), kFrame);
  EXPECT_EQ(b.pull(out), 540u); // the short last frame of an utterance
  EXPECT_EQ(b.stats().underruns, 0);
  EXPECT_FALSE(b.active());
  EXPECT_EQ(b.pull(out), 0u);
  EXPECT_EQ(b.stats().underruns, 0);

  // The next utterance is a new stream: underruns count again.
  b.push(counting_ramp(0, 100));
  EXPECT_EQ(b.pull(out), 100u);
  EXPECT_EQ(b.stats().underruns, 1);
}

TEST(PlayoutBuffer, PushAfterEndStreamContinuesTheStream) {
  auto b = make();
  std::vector<int16_t> out(kFrame);
  b.push(counting_ramp(0, 500));
  b.end_stream();
  b.push(counting_ramp(500, 1000)); // the next sentence arrived before the drain
  EXPECT_EQ(b.pull(out), kFrame);
  EXPECT_EQ(out, counting_ramp(0, kFrame));
  EXPECT_EQ(b.pull(out), 540u);
  EXPECT_EQ(b.stats().underruns, 1) << "the stream is open again, so running dry counts";
}

TEST(PlayoutBuffer, FlushIsImmediate) {
  auto b = make();
  std::vector<int16_t> out(kFrame);
  b.push(counting_ramp(0, 5000));
  EXPECT_EQ(b.pull(out), kFrame);
  EXPECT_EQ(b.flush(), 5000u - kFrame);
  EXPECT_EQ(b.buffered_samples(), 0u);
  EXPECT_FALSE(b.active());
  EXPECT_EQ(b.pull(out), 0u) << "silence on the very next frame";
  EXPECT_TRUE(std::all_of(out.begin(), out.end(), [](int16_t s) { return s == 0; }));
  auto const s = b.stats();
  EXPECT_EQ(s.flushed_samples, 5000 - static_cast<int64_t>(kFrame));
  EXPECT_EQ(s.underruns, 0);
  expect_invariant(b);
  // A new stream after the flush starts cleanly.
  b.push(counting_ramp(7, kFrame));
  EXPECT_EQ(b.pull(out), kFrame);
  EXPECT_EQ(out, counting_ramp(7, kFrame));
}

TEST(PlayoutBuffer, PrebufferHoldsTheStartOfAStream) {
  auto b = make(200, 60); // 2880 samples held back
  std::vector<int16_t> out(kFrame);
  b.push(counting_ramp(0, 1920)); // 40 ms < 60 ms
  EXPECT_EQ(b.pull(out), 0u);
  EXPECT_EQ(b.pull(out), 0u);
  EXPECT_EQ(b.stats().underruns, 0) << "waiting for the prebuffer is not an underrun";
  EXPECT_EQ(b.buffered_samples(), 1920u);
  b.push(counting_ramp(1920, 960)); // now 60 ms
  EXPECT_EQ(b.pull(out), kFrame);
  EXPECT_EQ(out, counting_ramp(0, kFrame));
}

TEST(PlayoutBuffer, AShortStreamBelowThePrebufferStillPlaysAtEnd) {
  auto b = make(200, 100);
  std::vector<int16_t> out(kFrame);
  b.push(counting_ramp(0, 600));
  EXPECT_EQ(b.pull(out), 0u);
  b.end_stream();
  EXPECT_EQ(b.pull(out), 600u);
  EXPECT_EQ(std::vector<int16_t>(out.begin(), out.begin() + 600), counting_ramp(0, 600));
  EXPECT_EQ(b.stats().underruns, 0);
}

TEST(PlayoutBuffer, PrebufferIsClampedToTheDepth) {
  auto b = make(40, 500);
  std::vector<int16_t> out(kFrame);
  b.push(counting_ramp(0, 1920)); // full: must start although 500 ms were asked for
  EXPECT_EQ(b.pull(out), kFrame);
}

TEST(PlayoutBuffer, ConcurrentProducerAndConsumerLoseNothing) {
  // The producer keeps within the depth bound using free_samples() (as a TTS producer would);
  // the consumer pulls 20 ms frames. The concatenated real samples must be the exact ramp.
  auto b = make(100);                    // small, so the ring wraps constantly
  constexpr int64_t kTotal = 48000 * 20; // 20 s of audio
  std::atomic<bool> producer_done{false};
  std::thread producer([&] {
    std::mt19937 rng(17);
    int64_t written = 0;
    while (written < kTotal) {
      std::size_t const want = std::min<int64_t>(1 + rng() % 2000, kTotal - written);
      std::size_t const room = b.free_samples();
      if (room == 0) {
        std::this_thread::yield();
        continue;
      }
      std::size_t const n = std::min(want, room);
      ASSERT_EQ(b.push(counting_ramp(written, n)), 0u);
      written += static_cast<int64_t>(n);
    }
    b.end_stream();
    producer_done = true;
  });

  std::vector<int16_t> out(kFrame);
  int64_t read = 0;
  bool ok = true;
  while (read < kTotal) {
    std::size_t const n = b.pull(out);
    for (std::size_t i = 0; i < n && ok; ++i) {
      if (out[i] != ramp_value(read + static_cast<int64_t>(i))) {
        ADD_FAILURE() << "sample " << read + static_cast<int64_t>(i) << " is " << out[i];
        ok = false;
      }
    }
    if (!ok) {
      break;
    }
    read += static_cast<int64_t>(n);
    if (n == 0) {
      if (producer_done && b.buffered_samples() == 0) {
        break; // the producer stopped early (a failed assertion): do not wait forever
      }
      std::this_thread::yield();
    }
  }
  producer.join();
  EXPECT_TRUE(producer_done);
  EXPECT_EQ(read, kTotal);
  auto const s = b.stats();
  EXPECT_EQ(s.dropped_samples, 0);
  EXPECT_EQ(s.pushed_samples, kTotal);
  EXPECT_EQ(s.played_samples, kTotal);
  EXPECT_EQ(b.buffered_samples(), 0u);
}

TEST(PlayoutBuffer, ConcurrentOverflowDropsOnlyWhatItReports) {
  // An unpaced producer overruns the bound: every sample is either played once or reported as
  // dropped, and what is played is an increasing subsequence of the ramp.
  auto b = make(60);
  constexpr int64_t kTotal = 48000 * 5;
  std::atomic<int64_t> reported_drops{0};
  std::atomic<bool> done{false};
  std::thread producer([&] {
    for (int64_t written = 0; written < kTotal; written += 480) {
      reported_drops += static_cast<int64_t>(b.push(counting_ramp(written, 480)));
    }
    done = true;
  });
  std::vector<int16_t> out(kFrame);
  int64_t played = 0;
  int64_t last_index = -1;
  bool monotonic = true;
  while (!done || b.buffered_samples() > 0) {
    std::size_t const n = b.pull(out);
    for (std::size_t i = 0; i < n; ++i) {
      // Recover the absolute index from the wrapped 16-bit ramp (it never jumps 65536 ahead
      // because the buffer holds far less).
      int64_t idx = (last_index + 1) + static_cast<uint16_t>(out[i] - ramp_value(last_index + 1));
      monotonic = monotonic && idx > last_index;
      last_index = idx;
    }
    played += static_cast<int64_t>(n);
    if (n == 0) {
      std::this_thread::yield();
    }
  }
  producer.join();
  EXPECT_TRUE(monotonic);
  EXPECT_EQ(played + reported_drops.load(), kTotal);
  EXPECT_EQ(b.stats().dropped_samples, reported_drops.load());
}

} // namespace
} // namespace pv::audio
