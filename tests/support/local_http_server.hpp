#pragma once
// A cpp-httplib server on 127.0.0.1, ephemeral port, in its own thread, for tests of HTTP
// clients. TCP_NODELAY is on (without it every request costs ~26 ms of Nagle + delayed ACK).
//
// Usage:
//   pv::test::LocalHttpServer server;                  // or LocalHttpServer(cert, key) for TLS
//   server.http().Get("/x", [](const httplib::Request&, httplib::Response& res) { ... });
//   server.start();                                     // returns once it is accepting
//   ... server.url("/x") ...
// stop() (also run by the destructor) stops accepting and joins the thread; it waits for
// handlers in progress, so handlers that block must be released first (see Gate).

#include "support/gate.hpp"

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include <httplib.h>

namespace pv::test {

class LocalHttpServer {
public:
  LocalHttpServer();                                                          // plain HTTP
  LocalHttpServer(const std::string& cert_file, const std::string& key_file); // HTTPS
  ~LocalHttpServer();
  LocalHttpServer(const LocalHttpServer&) = delete;
  LocalHttpServer& operator=(const LocalHttpServer&) = delete;

  // Register handlers before start().
  httplib::Server& http() { return *server_; }

  // Binds 127.0.0.1:0 and serves in a thread; throws std::runtime_error if it cannot.
  void start();
  void stop();

  uint16_t port() const { return port_; }
  // "http://127.0.0.1:<port><path>" ("https://" for TLS; `host` replaces 127.0.0.1 if given).
  std::string url(const std::string& path = "/", const std::string& host = "127.0.0.1") const;

private:
  std::unique_ptr<httplib::Server> server_;
  bool tls_ = false;
  uint16_t port_ = 0;
  std::thread thread_;
};

} // namespace pv::test
