#pragma once
// HTTP client on libcurl (multi interface), for the cascade's LLM/TTS/ASR providers.
//
// Model: each HttpClient owns ONE worker thread that drives a curl multi handle. Requests are
// handed to it from any thread; it runs them concurrently (HTTP/1.1 keep-alive and HTTP/2
// connection reuse within the client) and reports through callbacks on that worker thread.
// Create one client per provider (or share one); a client is cheap when idle (it sleeps in
// curl_multi_poll until woken).
//
// Threading:
//  * start(), perform(), HttpCall::cancel() are thread-safe and never block on the network,
//    except perform(), which blocks its caller until the call completes (it has timeouts and
//    honours a std::stop_token). perform() must not be called from a handler (that would wait
//    on its own thread); it returns an invalid_argument error if it is.
//  * Handlers run on the worker thread, one at a time; keep them short (they delay every
//    transfer of this client).
//  * on_complete runs exactly once per started call, even after cancel(); it is the last handler
//    of the call.
//
// Lifetime: ~HttpClient cancels every call still running (each gets on_complete with
// cancelled), then joins the worker; after it returns no handler runs.
//
// Timeouts (0 = off): connect (TCP + TLS), first byte (request sent → first response byte,
// headers included), idle (longest gap between received bytes once the response has started),
// total. Each expiry ends the call with HttpErrorKind::timeout and says which one.
//
// Responses: for 2xx, on_head then on_chunk for each piece of body as it arrives (unbuffered:
// suitable for SSE and chunked audio). Any other final status ends the call with http_status,
// carrying the status, the first max_error_body_bytes of the body and, for 429/503, Retry-After.
//
// Secrets: requests are logged at debug level as method + redacted URL only; headers and bodies
// are never logged, and error messages pass through pv::log::redact.
//
// Not done: redirects are not followed (3xx is an http_status error); proxies come from the
// usual environment variables (http_proxy, https_proxy, no_proxy), as libcurl does by default;
// request bodies are sent from memory (no streaming upload).

#include "net/headers.hpp"
#include "net/tls.hpp"

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <stop_token>
#include <string>
#include <string_view>

#include <tl/expected.hpp>

namespace pv::net {

enum class HttpErrorKind {
  invalid_argument, // bad URL, bad parameters, misuse
  connect_failed,   // DNS failure, connection refused/unreachable
  tls_error,        // TLS handshake or certificate verification failure
  http_status,      // final status outside 2xx
  timeout,          // see HttpError::timeout
  cancelled,        // HttpCall::cancel(), a stop_token, on_chunk returning false, or shutdown
  disconnected,     // the server closed the connection before the response was complete
  protocol,         // malformed response, body limit exceeded, other transfer failures
};

const char* to_string(HttpErrorKind kind);

enum class HttpTimeout { none, connect, first_byte, idle, total };

const char* to_string(HttpTimeout which);

struct HttpError {
  HttpErrorKind kind = HttpErrorKind::protocol;
  std::string message; // redacted
  HttpTimeout timeout = HttpTimeout::none;
  // kind == http_status
  int status = 0;
  std::string body_snippet; // at most HttpRequest::max_error_body_bytes
  Headers headers;
  std::optional<std::chrono::milliseconds> retry_after; // parsed Retry-After, if any

  std::string describe() const;
};

struct HttpTimeouts {
  int connect_ms = 10000;
  int first_byte_ms = 0;
  int idle_ms = 0;
  int total_ms = 0;
};

struct HttpRequest {
  std::string method = "GET"; // GET, POST, PUT, PATCH, DELETE, HEAD, ...
  std::string url;            // http:// or https://
  Headers headers;
  std::string body; // sent as is (set Content-Type yourself); may hold binary data
  HttpTimeouts timeouts;
  std::size_t max_error_body_bytes = 4096;
  std::size_t max_body_bytes = 64u << 20; // perform() only: larger bodies end with protocol
};

struct HttpResponseHead {
  int status = 0;
  Headers headers;
};

// Summary of a completed call.
struct HttpDone {
  int status = 0;
  Headers headers;
  uint64_t body_bytes = 0;
  std::chrono::milliseconds first_byte_latency{0}; // request start → first response byte
  std::chrono::milliseconds total_latency{0};
};

using HttpResult = tl::expected<HttpDone, HttpError>;

struct HttpStreamHandlers {
  std::function<void(const HttpResponseHead&)> on_head; // 2xx only, before any chunk
  // Body bytes of a 2xx response as they arrive. Return false to stop (ends with cancelled).
  std::function<bool(std::string_view chunk)> on_chunk;
  std::function<void(const HttpResult&)> on_complete; // exactly once, last
};

// A buffered response (perform()).
struct HttpResponse {
  int status = 0;
  Headers headers;
  std::string body;
};

// A call in progress. Thread-safe.
class HttpCall {
public:
  virtual ~HttpCall() = default;
  // Stops the transfer promptly; on_complete then reports cancelled (unless it already
  // completed). Idempotent.
  virtual void cancel() = 0;
  virtual bool done() const = 0;
};

struct HttpClientParams {
  std::string name = "http"; // worker thread name and log tag
  std::string user_agent = "podium-voices";
  TlsClientParams tls; // verify + extra CA file; server_name is not supported here (must be empty)
  bool enable_http2 = true; // negotiated over TLS via ALPN
};

class HttpClient {
public:
  // Validates the TLS set-up (the extra CA file is read once, here) and starts the worker.
  static tl::expected<std::unique_ptr<HttpClient>, HttpError> create(HttpClientParams params);

  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // Starts a streaming call. Invalid requests complete (on the worker) with invalid_argument.
  std::shared_ptr<HttpCall> start(HttpRequest request, HttpStreamHandlers handlers);

  // Blocking convenience: the whole body (any 2xx), or the error. `stop` cancels it.
  tl::expected<HttpResponse, HttpError> perform(HttpRequest request, std::stop_token stop = {});

  // Calls started and not yet completed.
  std::size_t active_calls() const;

  struct Impl; // implementation detail (http_client.cpp)

private:
  explicit HttpClient(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

} // namespace pv::net
