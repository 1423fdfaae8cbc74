#include "cascade/http/http_stream.hpp"

#include <algorithm>

namespace pv::cascade::http {

HttpStream::HttpStream(net::HttpClient& client, net::HttpRequest request, HttpStreamParams params)
    : shared_(std::make_shared<Shared>()), params_(params) {
  net::HttpStreamHandlers handlers;
  const std::size_t limit = params_.max_buffered_bytes;
  handlers.on_head = [shared = shared_](const net::HttpResponseHead& head) {
    std::lock_guard lock(shared->mutex);
    shared->head = head;
  };
  handlers.on_chunk = [shared = shared_, limit](std::string_view chunk) {
    {
      std::lock_guard lock(shared->mutex);
      if (shared->pending.size() + chunk.size() > limit) {
        shared->overflow = true;
        return false; // ends the call (reported as protocol in wait())
      }
      if (!shared->first_byte_at) {
        shared->first_byte_at = Clock::now();
      }
      shared->pending.append(chunk);
    }
    shared->cv.notify_one();
    return true;
  };
  handlers.on_complete = [shared = shared_](const net::HttpResult& result) {
    {
      std::lock_guard lock(shared->mutex);
      shared->result = result;
    }
    shared->cv.notify_one();
  };
  call_ = client.start(std::move(request), std::move(handlers));
}

HttpStream::~HttpStream() {
  cancel();
}

void HttpStream::cancel() {
  if (call_) {
    call_->cancel();
  }
}

std::optional<net::HttpResponseHead> HttpStream::head() const {
  std::lock_guard lock(shared_->mutex);
  return shared_->head;
}

std::optional<Clock::time_point> HttpStream::first_byte_at() const {
  std::lock_guard lock(shared_->mutex);
  return shared_->first_byte_at;
}

HttpStream::Wait HttpStream::wait(std::string& out, Clock::time_point until,
                                  const CancelToken& cancel) {
  PV_ASSERT_OWNER(owner_);
  if (finished_) {
    return Wait::finished;
  }
  std::unique_lock lock(shared_->mutex);
  for (;;) {
    // Cancellation first: once it is set, no byte more reaches the caller.
    if (cancel.cancelled()) {
      lock.unlock();
      this->cancel();
      return Wait::cancelled;
    }
    if (!shared_->pending.empty()) {
      if (out.empty()) {
        out.swap(shared_->pending); // no copy in the common case
      } else {
        out.append(shared_->pending);
        shared_->pending.clear();
      }
      return Wait::data;
    }
    if (shared_->result) {
      result_ = *shared_->result;
      if (shared_->overflow) {
        net::HttpError error;
        error.kind = net::HttpErrorKind::protocol;
        error.message = "the response outgrew the " + std::to_string(params_.max_buffered_bytes) +
                        "-byte buffer (the consumer did not keep up)";
        result_ = tl::unexpected(std::move(error));
      }
      finished_ = true;
      return Wait::finished;
    }
    const auto now = Clock::now();
    if (now >= until) {
      return Wait::deadline;
    }
    shared_->cv.wait_until(lock, std::min(until, now + params_.poll));
  }
}

} // namespace pv::cascade::http
