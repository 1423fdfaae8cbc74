#pragma once
// Threads the orchestrator owns (TEN style: each lane is one thread with one ordered inbox; other
// threads only post messages to it, by value).
//
// Activity – counts work in flight across the orchestrator's threads. Only used to run an
//            UNPACED (simulated) room in lockstep with the pipeline: after handing a frame over,
//            the clock thread waits (bounded) until everything that frame caused is done, so a
//            room running faster than real time cannot outrun the providers. Live rooms never
//            wait on it. A lane waiting for playout space is not "work in flight" (it waits on the
//            clock); in lockstep the clock thread kick()s it after each pulled frame.
// Lane<C>  – a thread draining a bounded FIFO of commands into a handler, one at a time, in order.
//            The ring of command slots is allocated once (no allocation per posted command); a full
//            lane refuses the post (the caller decides: count it, fail the utterance...).
//            stop() drops queued commands and joins; the handler should watch stopping() in long
//            waits. Exceptions escaping the handler are caught and counted, never crash the lane.
// Owner: a Lane is started and stopped by the orchestrator's worker owner (start()/stop() of the
// backend); try_post() is thread-safe.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace pv::cascade {

class Activity {
public:
  // Who the work belongs to: the worker's inbox and each lane. A parked track (waiting for
  // playout space) does not count, nor does anything queued behind it.
  enum Track { worker = 0, asr = 1, llm = 2, speaker = 3, kTracks = 4 };

  void add(Track track) {
    std::lock_guard lock(mutex_);
    ++units_[track];
  }
  void done(Track track, int n = 1) {
    bool idle = false;
    {
      std::lock_guard lock(mutex_);
      units_[track] -= n;
      idle = idle_locked();
    }
    if (idle) {
      idle_cv_.notify_all();
    }
  }

  // The lane of `track`, in the middle of a command, waits for playout space: it is parked until
  // kick()ed (lockstep: the clock thread pulled a frame) or `max_wait` passed.
  void wait_for_playout(Track track, std::chrono::milliseconds max_wait) {
    std::unique_lock lock(mutex_);
    parked_[track] = true;
    kicked_[track] = false;
    if (idle_locked()) {
      idle_cv_.notify_all();
    }
    kick_cv_.wait_for(lock, max_wait, [&] { return kicked_[track]; });
    parked_[track] = false;
    kicked_[track] = false;
  }

  // Clock thread, lockstep only: wakes parked lanes (they count again until they park again or
  // finish).
  void kick() {
    bool any = false;
    {
      std::lock_guard lock(mutex_);
      for (int t = 0; t < kTracks; ++t) {
        if (parked_[t] && !kicked_[t]) {
          kicked_[t] = true;
          parked_[t] = false;
          any = true;
        }
      }
    }
    if (any) {
      kick_cv_.notify_all();
    }
  }

  // Waits until nothing is in flight (parked lanes aside) or `deadline`; returns whether it did.
  bool wait_idle(std::chrono::steady_clock::time_point deadline) {
    std::unique_lock lock(mutex_);
    return idle_cv_.wait_until(lock, deadline, [&] { return idle_locked(); });
  }

  int units(Track track) const {
    std::lock_guard lock(mutex_);
    return units_[track];
  }

private:
  bool idle_locked() const {
    for (int t = 0; t < kTracks; ++t) {
      if (units_[t] > 0 && !parked_[t]) {
        return false;
      }
    }
    return true;
  }

  mutable std::mutex mutex_;
  std::condition_variable idle_cv_;
  std::condition_variable kick_cv_;
  int units_[kTracks] = {0, 0, 0, 0};
  bool parked_[kTracks] = {false, false, false, false};
  bool kicked_[kTracks] = {false, false, false, false};
};

template <class Command>
class Lane {
public:
  using Handler = std::function<void(Command&)>;

  Lane(std::string name, std::size_t capacity, Activity& activity, Activity::Track track)
      : name_(std::move(name)), slots_(capacity == 0 ? 1 : capacity), activity_(activity),
        track_(track) {}
  ~Lane() { stop(); }
  Lane(const Lane&) = delete;
  Lane& operator=(const Lane&) = delete;

  void start(Handler handler) {
    handler_ = std::move(handler);
    stopping_.store(false);
    thread_ = std::thread([this] { run(); });
  }

  // Any thread. False when the lane is full or stopped (the command is not taken).
  bool try_post(Command&& command) {
    {
      std::lock_guard lock(mutex_);
      if (stopped_ || size_ == slots_.size()) {
        ++refused_;
        return false;
      }
      slots_[(head_ + size_) % slots_.size()] = std::move(command);
      ++size_;
      activity_.add(track_);
    }
    cv_.notify_one();
    return true;
  }

  void stop() {
    {
      std::lock_guard lock(mutex_);
      stopped_ = true;
    }
    stopping_.store(true);
    cv_.notify_all();
    if (thread_.joinable()) {
      thread_.join();
    }
    std::lock_guard lock(mutex_);
    if (size_ > 0) {
      activity_.done(track_, static_cast<int>(size_));
      for (std::size_t i = 0; i < size_; ++i) {
        slots_[(head_ + i) % slots_.size()] = Command{};
      }
      size_ = 0;
    }
  }

  // For handlers in long waits: the lane is being stopped.
  bool stopping() const { return stopping_.load(); }
  std::size_t queued() const {
    std::lock_guard lock(mutex_);
    return size_;
  }
  int64_t refused() const {
    std::lock_guard lock(mutex_);
    return refused_;
  }
  int64_t handler_exceptions() const { return exceptions_.load(); }
  const std::string& name() const { return name_; }

private:
  void run() {
    Command command{};
    for (;;) {
      {
        std::unique_lock lock(mutex_);
        cv_.wait(lock, [&] { return stopped_ || size_ > 0; });
        if (stopped_) {
          return;
        }
        command = std::move(slots_[head_]);
        slots_[head_] = Command{};
        head_ = (head_ + 1) % slots_.size();
        --size_;
      }
      try {
        handler_(command);
      } catch (...) {
        exceptions_.fetch_add(1);
      }
      command = Command{};
      activity_.done(track_);
    }
  }

  std::string name_;
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  std::vector<Command> slots_;
  std::size_t head_ = 0;
  std::size_t size_ = 0;
  bool stopped_ = false;
  int64_t refused_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<int64_t> exceptions_{0};
  Activity& activity_;
  Activity::Track track_;
  Handler handler_;
  std::thread thread_;
};

} // namespace pv::cascade
