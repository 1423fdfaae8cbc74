#pragma once
// An io_context with its own thread(s): the executor the WebSocket sessions and servers run on.
//
// Owner: whoever creates it (not thread-bound). Lifetime: destroy every session/server that uses
// the context before the IoThread (their destructors post cancellations to it). stop() (also
// called by the destructor) stops the context and joins the threads; handlers still queued are
// destroyed with the context, never run.

#include <memory>
#include <string>

namespace boost::asio {
class io_context;
} // namespace boost::asio

namespace pv::net {

class IoThread {
public:
  // Starts `threads` threads (named `name` for debuggers) running the context until stop().
  explicit IoThread(std::string name = "pv-net", int threads = 1);
  ~IoThread();
  IoThread(const IoThread&) = delete;
  IoThread& operator=(const IoThread&) = delete;

  boost::asio::io_context& context();

  // Stops the context and joins the threads. Idempotent; must not be called from a context thread.
  void stop();

  // True when called from one of this IoThread's threads.
  bool running_in_this_thread() const;

private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

} // namespace pv::net
