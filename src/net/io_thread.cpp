#include "net/io_thread.hpp"

#include <algorithm>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <pthread.h>

namespace pv::net {

struct IoThread::Impl {
  explicit Impl(int concurrency_hint) : io(concurrency_hint) {}
  boost::asio::io_context io;
  std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> guard;
  std::vector<std::thread> threads;
  std::mutex stop_mutex;
};

IoThread::IoThread(std::string name, int threads)
    : impl_(std::make_unique<Impl>(std::max(1, threads))) {
  impl_->guard.emplace(impl_->io.get_executor());
  const int count = std::max(1, threads);
  name.resize(std::min<std::size_t>(name.size(), 15)); // pthread names are limited to 15 chars
  for (int i = 0; i < count; ++i) {
    impl_->threads.emplace_back([this, name] {
      pthread_setname_np(pthread_self(), name.c_str());
      impl_->io.run();
    });
  }
}

IoThread::~IoThread() {
  stop();
}

boost::asio::io_context& IoThread::context() {
  return impl_->io;
}

void IoThread::stop() {
  std::lock_guard lock(impl_->stop_mutex);
  impl_->guard.reset();
  impl_->io.stop();
  for (auto& thread : impl_->threads) {
    if (thread.joinable()) {
      thread.join();
    }
  }
  impl_->threads.clear();
}

bool IoThread::running_in_this_thread() const {
  const auto self = std::this_thread::get_id();
  return std::any_of(impl_->threads.begin(), impl_->threads.end(),
                     [&](const std::thread& t) { return t.get_id() == self; });
}

} // namespace pv::net
