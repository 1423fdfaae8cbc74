// The 20 ms path must not allocate per frame: count heap allocations while frames are processed.
#include "cascade/vad_segmenter.hpp"

#include "cascade_test_util.hpp"

#include "support/alloc_counter.hpp"

#include <thread>

#include <gtest/gtest.h>

namespace pv::cascade {
namespace {

TEST(NoAllocation, SegmenterProcessesTurnsWithoutHeapAllocation) {
  // Material: three utterances separated by silence, then a long monologue cut at max length.
  std::vector<int16_t> pcm(16000, 0);
  for (const char* text : {"Hello everyone, welcome to the room.", "What is the weather like?",
                           "Please turn on the lights in the kitchen."}) {
    auto s = testing::trimmed(testing::speak(text).samples);
    pcm.insert(pcm.end(), s.begin(), s.end());
    pcm.insert(pcm.end(), 16000, 0);
  }
  pcm.resize(pcm.size() / 320 * 320);
  VadSegmenterParams p;
  p.max_segment_ms = 1500; // also exercise the cut path
  auto seg = VadSegmenter::create(p);
  ASSERT_TRUE(seg);
  int turns = 0;
  test::AllocationCount count;
  for (std::size_t i = 0; i < pcm.size(); i += 320) {
    auto ev =
        seg->process(std::span<const int16_t>(pcm.data() + i, 320), static_cast<int64_t>(i / 16));
    turns += (ev && ev->kind == SegmenterEvent::Kind::end_of_turn) ? 1 : 0;
  }
  const long allocations = count.stop();
  EXPECT_GE(turns, 3);
  EXPECT_EQ(allocations, 0) << "allocations on the per-frame path";
}

TEST(NoAllocation, CounterWorks) {
  test::AllocationCount count;
  auto* v = new std::vector<int>(100);
  const long allocations = count.stop();
  delete v;
  EXPECT_GE(allocations, 2);
}

TEST(NoAllocation, CounterCountsOnlyTheCallingThread) {
  constexpr int kElsewhere = 100;
  test::AllocationCount count;
  std::thread other([] {
    for (int i = 0; i < kElsewhere; ++i) {
      delete new int(i);
    }
  });
  other.join();
  const long allocations = count.stop();
  EXPECT_LT(allocations, kElsewhere); // starting the thread may allocate here, its work may not
}

} // namespace
} // namespace pv::cascade
