// The 20 ms path must not allocate per frame: count heap allocations while frames are processed.
#include "cascade/vad_segmenter.hpp"

#include "cascade_test_util.hpp"

#include <atomic>
#include <cstdlib>
#include <new>

#include <gtest/gtest.h>

namespace {
thread_local bool g_counting = false;
std::atomic<long> g_allocations{0};
} // namespace

// Replaces the global allocator for this test binary; it only counts when asked to.
void* operator new(std::size_t size) {
  if (g_counting) {
    g_allocations.fetch_add(1, std::memory_order_relaxed);
  }
  if (void* p = std::malloc(size == 0 ? 1 : size)) {
    return p;
  }
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept {
  std::free(p);
}
void operator delete(void* p, std::size_t) noexcept {
  std::free(p);
}

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
  g_allocations = 0;
  g_counting = true;
  for (std::size_t i = 0; i < pcm.size(); i += 320) {
    auto ev =
        seg->process(std::span<const int16_t>(pcm.data() + i, 320), static_cast<int64_t>(i / 16));
    turns += (ev && ev->kind == SegmenterEvent::Kind::end_of_turn) ? 1 : 0;
  }
  g_counting = false;
  EXPECT_GE(turns, 3);
  EXPECT_EQ(g_allocations.load(), 0) << "allocations on the per-frame path";
}

TEST(NoAllocation, CounterWorks) {
  g_allocations = 0;
  g_counting = true;
  auto* v = new std::vector<int>(100);
  g_counting = false;
  delete v;
  EXPECT_GE(g_allocations.load(), 2);
}

} // namespace
} // namespace pv::cascade
