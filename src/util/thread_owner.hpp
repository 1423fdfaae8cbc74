#pragma once
// Thread-ownership checks, in the spirit of TEN's integrity checks: an object that must only be
// touched from one thread (or one Asio strand) holds a ThreadOwner and calls PV_ASSERT_OWNER at
// the top of each method. In release builds (NDEBUG) the checks compile to nothing.

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <thread>

namespace pv::util {

class ThreadOwner {
public:
  // Binds to the first thread that checks, unless bound explicitly.
  ThreadOwner() = default;

  // Re-binds ownership to the calling thread (e.g. when a worker thread starts its loop).
  void bind_to_current_thread() { owner_.store(std::this_thread::get_id()); }

  // Releases ownership so another thread may bind (e.g. after the owning thread has joined).
  void release() { owner_.store(std::thread::id{}); }

  bool is_owner() const {
    auto const self = std::this_thread::get_id();
    auto expected = std::thread::id{};
    if (owner_.compare_exchange_strong(expected, self)) {
      return true;
    }
    return expected == self;
  }

private:
  mutable std::atomic<std::thread::id> owner_{};
};

// ThreadOwner for value types: moving an object hands it over unbound, so the moved-to object
// binds to the first thread that uses it (objects are often built on one thread and used on
// another, e.g. created in start() and driven by a worker).
struct MovableThreadOwner {
  ThreadOwner owner;
  MovableThreadOwner() = default;
  MovableThreadOwner(MovableThreadOwner&&) noexcept {}
  MovableThreadOwner& operator=(MovableThreadOwner&&) noexcept {
    owner.release();
    return *this;
  }
  bool is_owner() const { return owner.is_owner(); }
};

[[noreturn]] inline void ownership_violation(const char* what, const char* file, int line) {
  std::fprintf(stderr, "thread-ownership violation: %s called off its owning thread (%s:%d)\n",
               what, file, line);
  std::abort();
}

} // namespace pv::util

#ifdef NDEBUG
#define PV_ASSERT_OWNER(owner) ((void)0)
#else
#define PV_ASSERT_OWNER(owner)                                                                     \
  do {                                                                                             \
    if (!(owner).is_owner()) {                                                                     \
      ::pv::util::ownership_violation(__func__, __FILE__, __LINE__);                               \
    }                                                                                              \
  } while (0)
#endif
