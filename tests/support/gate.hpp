#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>

namespace pv::test {

// A one-shot latch that handlers (server threads) and the test thread use to order events
// without sleeping: wait_for() returns false if the gate was not opened within the bound (so a
// test fails instead of hanging).
class Gate {
public:
  // Notifies under the lock, so that a waiter that then destroys the gate cannot race with it.
  void open() {
    std::lock_guard lock(mutex_);
    open_ = true;
    cv_.notify_all();
  }
  bool is_open() const {
    std::lock_guard lock(mutex_);
    return open_;
  }
  bool wait_for(std::chrono::milliseconds bound) {
    std::unique_lock lock(mutex_);
    return cv_.wait_for(lock, bound, [&] { return open_; });
  }

private:
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  bool open_ = false;
};

} // namespace pv::test
