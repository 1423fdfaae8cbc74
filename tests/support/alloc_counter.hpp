#pragma once
// Counts heap allocations (global operator new) made on the calling thread, to check that a
// real-time path does not allocate per frame.
//
// alloc_counter.cpp replaces the global operator new/delete of the binary that links it, so it
// is not part of pv_testsupport: a test binary opts in with the `pv_alloc_counter` object
// library (tests/CMakeLists.txt). Outside a count the replacement only forwards to malloc/free.
//
// Usage:
//   pv::test::AllocationCount count; // starts counting on this thread, from 0
//   ... the code under test ...
//   EXPECT_EQ(count.stop(), 0);
// Owner: the thread that creates it; one count per thread at a time.

namespace pv::test {

class AllocationCount {
public:
  AllocationCount();
  ~AllocationCount(); // stops counting if stop() was not called
  AllocationCount(const AllocationCount&) = delete;
  AllocationCount& operator=(const AllocationCount&) = delete;

  // Stops counting; returns the allocations this thread made since construction.
  long stop();
};

} // namespace pv::test
