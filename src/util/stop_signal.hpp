#pragma once
// SIGINT/SIGTERM → one process-wide "stop requested" flag that the programs' loops poll. A signal
// handler may only store to a lock-free atomic, so that is all the handler does.

#include <atomic>
#include <csignal>

namespace pv::util {

inline std::atomic<bool> stop_requested{false};
static_assert(std::atomic<bool>::is_always_lock_free);

inline void on_stop_signal(int) {
  stop_requested.store(true);
}

inline void install_stop_signal_handlers() {
  std::signal(SIGINT, on_stop_signal);
  std::signal(SIGTERM, on_stop_signal);
}

} // namespace pv::util
