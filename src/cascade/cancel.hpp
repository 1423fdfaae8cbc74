#pragma once
// Cooperative cancellation shared by every cascade provider call.
//
// A CancelSource is held by whoever may abort the work (the orchestrator on barge-in or stop);
// the CancelToken it hands out travels with the request into provider code, which checks it
// between units of work (audio chunks, tokens, curl progress callbacks). Both are cheap to copy
// and thread-safe: cancel() may be called from any thread, at any time, more than once.
// A default-constructed token is never cancelled.

#include <atomic>
#include <chrono>
#include <memory>
#include <utility>

namespace pv::cascade {

class CancelToken {
public:
  CancelToken() = default;
  bool cancelled() const { return flag_ && flag_->load(std::memory_order_acquire); }

private:
  friend class CancelSource;
  explicit CancelToken(std::shared_ptr<const std::atomic<bool>> flag) : flag_(std::move(flag)) {}
  std::shared_ptr<const std::atomic<bool>> flag_;
};

class CancelSource {
public:
  CancelSource() : flag_(std::make_shared<std::atomic<bool>>(false)) {}
  void cancel() { flag_->store(true, std::memory_order_release); }
  bool cancelled() const { return flag_->load(std::memory_order_acquire); }
  CancelToken token() const { return CancelToken(flag_); }

private:
  std::shared_ptr<std::atomic<bool>> flag_;
};

using Clock = std::chrono::steady_clock;

} // namespace pv::cascade
