#pragma once
// One HTTP call of a remote cascade provider, consumed by the provider's calling thread.
//
// The HTTP client (net::HttpClient) delivers response bytes on its own worker thread; provider
// contracts require that tokens/audio reach the caller's sink on the CALLING thread and that
// deadlines and cancellation are enforced while the body streams in. HttpStream bridges the two:
// the worker only appends bytes to a bounded buffer (a short mutex, never held across I/O); the
// calling thread waits in wait(), takes the bytes, parses them and runs the sink itself.
//
//   HttpStream stream(client, std::move(request));
//   std::string bytes;
//   for (;;) switch (stream.wait(bytes, deadline, cancel)) { ... }
//
// Cancellation: CancelToken has no wake-up, so wait() re-checks it every `poll` (5 ms by
// default): a cancel from another thread stops the transfer within a few ms.
// Destroying the stream cancels the call if it is still running; the worker's handlers only
// touch shared state, so that is safe at any moment.
//
// Owner: the thread that created it (a provider's calling thread); not thread-safe itself.

#include "cascade/cancel.hpp"
#include "net/http_client.hpp"
#include "util/thread_owner.hpp"

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

namespace pv::cascade::http {

struct HttpStreamParams {
  // Bound on bytes received but not yet taken by wait(): beyond it the call is stopped and
  // result() reports a protocol error (a consumer that never keeps up must not grow memory).
  std::size_t max_buffered_bytes = 16u << 20;
  std::chrono::milliseconds poll{5}; // how often a pending cancellation is noticed
};

class HttpStream {
public:
  enum class Wait {
    data,      // `out` received more body bytes (2xx responses only)
    finished,  // the call is over and every byte was taken: see result()
    cancelled, // the token was set; the call has been cancelled
    deadline,  // `until` passed with nothing new
  };

  HttpStream(net::HttpClient& client, net::HttpRequest request, HttpStreamParams params = {});
  ~HttpStream();
  HttpStream(const HttpStream&) = delete;
  HttpStream& operator=(const HttpStream&) = delete;

  // Appends newly received body bytes to `out` (data), or reports why there are none.
  // A set `cancel` wins over everything (no byte is handed out after it); bytes are always
  // handed out before `finished`.
  Wait wait(std::string& out, Clock::time_point until, const CancelToken& cancel);

  // The response head (status and headers of a 2xx response), once known.
  std::optional<net::HttpResponseHead> head() const;

  // The outcome of the call; valid after wait() returned `finished`. A buffer overflow is
  // reported as a protocol error.
  const net::HttpResult& result() const { return result_; }

  // Stops the transfer (idempotent).
  void cancel();

  // When the first body byte was queued by the HTTP worker (for latency figures).
  std::optional<Clock::time_point> first_byte_at() const;

private:
  struct Shared {
    mutable std::mutex mutex;
    std::condition_variable cv;
    std::string pending;
    std::optional<net::HttpResponseHead> head;
    std::optional<net::HttpResult> result;
    std::optional<Clock::time_point> first_byte_at;
    bool overflow = false;
  };

  std::shared_ptr<Shared> shared_;
  std::shared_ptr<net::HttpCall> call_;
  HttpStreamParams params_;
  net::HttpResult result_;
  bool finished_ = false;
  util::ThreadOwner owner_;
};

} // namespace pv::cascade::http
