#include "support/alloc_counter.hpp"

#include <cstdlib>
#include <new>

namespace {
// Per thread: allocations made by other threads (io threads, servers) are not counted.
thread_local bool t_counting = false;
thread_local long t_allocations = 0;
} // namespace

void* operator new(std::size_t size) {
  if (t_counting) {
    ++t_allocations;
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

namespace pv::test {

AllocationCount::AllocationCount() {
  t_allocations = 0;
  t_counting = true;
}

AllocationCount::~AllocationCount() {
  t_counting = false;
}

long AllocationCount::stop() {
  t_counting = false;
  return t_allocations;
}

} // namespace pv::test
