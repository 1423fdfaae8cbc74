#pragma once
// Lets an owner stop callbacks that run on other threads: run() invokes the callback only while
// the gate is open; close() returns after any callback in progress has returned. The mutex is
// recursive so that a callback may close its own gate (e.g. by destroying its owner). Internal.

#include <mutex>
#include <utility>

namespace pv::net::detail {

class CallbackGate {
public:
  template <class F>
  void run(F&& callback) {
    std::lock_guard lock(mutex_);
    if (open_) {
      std::forward<F>(callback)();
    }
  }

  void close() {
    std::lock_guard lock(mutex_);
    open_ = false;
  }

private:
  std::recursive_mutex mutex_; // held while a callback runs; never across I/O
  bool open_ = true;
};

} // namespace pv::net::detail
