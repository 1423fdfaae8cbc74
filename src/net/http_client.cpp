#include "net/http_client.hpp"

#include "log/log.hpp"
#include "net/detail/tls_detail.hpp"
#include "net/retry_after.hpp"
#include "net/url.hpp"
#include "util/thread_owner.hpp"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstring>
#include <limits>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <vector>

#include <curl/curl.h>
#include <pthread.h>

namespace pv::net {

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr int kMaxPollMs = 1000;

std::once_flag g_curl_init;

milliseconds since(Clock::time_point start, Clock::time_point end = Clock::now()) {
  return std::chrono::duration_cast<milliseconds>(end - start);
}

HttpError make_error(HttpErrorKind kind, std::string message,
                     HttpTimeout which = HttpTimeout::none) {
  HttpError error;
  error.kind = kind;
  error.message = pv::log::redact(message);
  error.timeout = which;
  return error;
}

bool has_line_break(std::string_view text) {
  return text.find_first_of("\r\n") != std::string_view::npos;
}

bool is_token(std::string_view text) {
  return !text.empty() && std::all_of(text.begin(), text.end(), [](char c) {
    return c > 0x20 && c < 0x7f && c != ':' && c != '(' && c != ')' && c != '"';
  });
}

// Strips HTTP whitespace and the line end.
std::string_view trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) {
    text.remove_prefix(1);
  }
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t' || text.back() == '\r' ||
                           text.back() == '\n')) {
    text.remove_suffix(1);
  }
  return text;
}

} // namespace

// ---------------------------------------------------------------------------------------------

const char* to_string(HttpErrorKind kind) {
  switch (kind) {
  case HttpErrorKind::invalid_argument:
    return "invalid_argument";
  case HttpErrorKind::connect_failed:
    return "connect_failed";
  case HttpErrorKind::tls_error:
    return "tls_error";
  case HttpErrorKind::http_status:
    return "http_status";
  case HttpErrorKind::timeout:
    return "timeout";
  case HttpErrorKind::cancelled:
    return "cancelled";
  case HttpErrorKind::disconnected:
    return "disconnected";
  case HttpErrorKind::protocol:
    return "protocol";
  }
  return "unknown";
}

const char* to_string(HttpTimeout which) {
  switch (which) {
  case HttpTimeout::none:
    return "none";
  case HttpTimeout::connect:
    return "connect";
  case HttpTimeout::first_byte:
    return "first_byte";
  case HttpTimeout::idle:
    return "idle";
  case HttpTimeout::total:
    return "total";
  }
  return "unknown";
}

std::string HttpError::describe() const {
  std::string out = to_string(kind);
  if (kind == HttpErrorKind::http_status) {
    out += " (" + std::to_string(status) + ")";
  } else if (kind == HttpErrorKind::timeout) {
    out += std::string(" (") + to_string(timeout) + ")";
  }
  if (!message.empty()) {
    out += ": " + message;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------

// Lets HttpCall::cancel() wake the worker even after the client is gone (then it does nothing).
struct Waker {
  std::mutex mutex; // guards multi
  CURLM* multi = nullptr;

  void wake() {
    std::lock_guard lock(mutex);
    if (multi != nullptr) {
      curl_multi_wakeup(multi);
    }
  }
};

struct Transfer final : HttpCall {
  Transfer(HttpRequest req, HttpStreamHandlers h, std::shared_ptr<Waker> w)
      : request(std::move(req)), handlers(std::move(h)), waker(std::move(w)) {}

  ~Transfer() override {
    if (header_list != nullptr) {
      curl_slist_free_all(header_list);
    }
    if (easy != nullptr) {
      curl_easy_cleanup(easy);
    }
  }

  void cancel() override {
    if (!completed.load(std::memory_order_acquire) &&
        !cancel_requested.exchange(true, std::memory_order_acq_rel)) {
      waker->wake();
    }
  }
  bool done() const override { return completed.load(std::memory_order_acquire); }

  HttpRequest request;
  HttpStreamHandlers handlers;
  std::shared_ptr<Waker> waker;
  std::atomic<bool> cancel_requested{false};
  std::atomic<bool> completed{false};

  // Worker-thread state.
  std::optional<HttpError> early_error; // set before the transfer is added (invalid request)
  std::optional<HttpError> local_error; // set when we abort (timeouts, handler stop)
  CURL* easy = nullptr;
  curl_slist* header_list = nullptr;
  char error_buffer[CURL_ERROR_SIZE] = {};
  bool https = false;
  std::string host;

  int status = 0;
  Headers headers;
  bool head_delivered = false;
  std::string error_body;
  uint64_t body_bytes = 0;
  Clock::time_point started;
  std::optional<Clock::time_point> first_byte_at;
  Clock::time_point last_rx;
};

struct HttpClient::Impl {
  HttpClientParams params;
  std::vector<detail::X509Ptr> extra_cas;
  std::shared_ptr<Waker> waker = std::make_shared<Waker>();
  CURLM* multi = nullptr;
  std::thread worker;
  std::atomic<std::thread::id> worker_id{};
  std::atomic<std::size_t> active{0};

  std::mutex mutex; // guards pending and stopping; never held across curl calls or handlers
  std::vector<std::shared_ptr<Transfer>> pending;
  bool stopping = false;

  // Worker-thread state (checked with worker_owner in debug builds).
  util::ThreadOwner worker_owner;
  std::unordered_map<CURL*, std::shared_ptr<Transfer>> running;

  ~Impl() {
    if (multi != nullptr) {
      curl_multi_cleanup(multi);
    }
  }

  void submit(std::shared_ptr<Transfer> transfer) {
    active.fetch_add(1, std::memory_order_relaxed);
    bool rejected = false;
    {
      std::lock_guard lock(mutex);
      if (stopping) {
        rejected = true;
      } else {
        pending.push_back(transfer);
      }
    }
    if (rejected) {
      // The worker is gone: complete here (still exactly once, after the caller got the call).
      complete(*transfer, tl::unexpected(make_error(HttpErrorKind::cancelled,
                                                    "the HTTP client is shutting down")));
      return;
    }
    waker->wake();
  }

  void run() {
    worker_owner.bind_to_current_thread();
    worker_id.store(std::this_thread::get_id());
    const std::string thread_name = params.name.substr(0, 15);
    pthread_setname_np(pthread_self(), thread_name.c_str());
    for (;;) {
      std::vector<std::shared_ptr<Transfer>> incoming;
      bool stop = false;
      {
        std::lock_guard lock(mutex);
        incoming.swap(pending);
        stop = stopping;
      }
      for (auto& transfer : incoming) {
        if (stop || transfer->early_error) {
          complete(*transfer, tl::unexpected(transfer->early_error.value_or(make_error(
                                  HttpErrorKind::cancelled, "the HTTP client is shutting down"))));
        } else {
          add(transfer);
        }
      }
      if (stop) {
        break;
      }
      handle_cancellations();
      int still_running = 0;
      curl_multi_perform(multi, &still_running);
      drain_finished();
      const int wait_ms = enforce_deadlines();
      curl_multi_poll(multi, nullptr, 0, wait_ms, nullptr);
    }
    // Shutdown: everything still running ends as cancelled.
    std::vector<std::shared_ptr<Transfer>> left;
    for (auto& [easy, transfer] : running) {
      left.push_back(transfer);
    }
    for (auto& transfer : left) {
      finish(*transfer, tl::unexpected(make_error(HttpErrorKind::cancelled,
                                                  "the HTTP client is shutting down")));
    }
  }

  void add(const std::shared_ptr<Transfer>& transfer) {
    PV_ASSERT_OWNER(worker_owner);
    std::string error;
    if (!configure(*transfer, error)) {
      complete(*transfer, tl::unexpected(make_error(HttpErrorKind::invalid_argument, error)));
      return;
    }
    transfer->started = Clock::now();
    transfer->last_rx = transfer->started;
    const CURLMcode code = curl_multi_add_handle(multi, transfer->easy);
    if (code != CURLM_OK) {
      complete(*transfer, tl::unexpected(make_error(HttpErrorKind::protocol,
                                                    std::string("curl_multi_add_handle: ") +
                                                        curl_multi_strerror(code))));
      return;
    }
    running.emplace(transfer->easy, transfer);
    if (spdlog::should_log(spdlog::level::debug)) { // redact() is not free
      spdlog::debug("[{}] {} {}", params.name, transfer->request.method,
                    pv::log::redact(transfer->request.url));
    }
  }

  bool configure(Transfer& t, std::string& error) {
    PV_ASSERT_OWNER(worker_owner);
    CURL* easy = curl_easy_init();
    if (easy == nullptr) {
      error = "curl_easy_init failed";
      return false;
    }
    t.easy = easy;
    const HttpRequest& r = t.request;
    curl_easy_setopt(easy, CURLOPT_URL, r.url.c_str());
    curl_easy_setopt(easy, CURLOPT_PRIVATE, &t);
    curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, t.error_buffer);
    curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(easy, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(easy, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(easy, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(easy, CURLOPT_HTTP_VERSION,
                     params.enable_http2 ? CURL_HTTP_VERSION_2TLS : CURL_HTTP_VERSION_1_1);
    if (!params.user_agent.empty()) {
      curl_easy_setopt(easy, CURLOPT_USERAGENT, params.user_agent.c_str());
    }
    curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(r.timeouts.connect_ms));
    if (r.timeouts.total_ms > 0) {
      curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, static_cast<long>(r.timeouts.total_ms));
    }

    // Method and body.
    if (r.method == "GET" && r.body.empty()) {
      curl_easy_setopt(easy, CURLOPT_HTTPGET, 1L);
    } else if (r.method == "HEAD") {
      curl_easy_setopt(easy, CURLOPT_NOBODY, 1L);
    } else {
      if (r.method == "POST") {
        curl_easy_setopt(easy, CURLOPT_POST, 1L);
      } else {
        curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, r.method.c_str());
      }
      if (!r.body.empty() || r.method == "POST" || r.method == "PUT" || r.method == "PATCH") {
        curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(r.body.size()));
        curl_easy_setopt(easy, CURLOPT_POSTFIELDS, r.body.data());
      }
    }

    // Headers; "Expect:" stops curl from waiting for 100-continue on large bodies.
    for (const auto& header : r.headers) {
      const std::string line = header.name + ": " + header.value;
      t.header_list = curl_slist_append(t.header_list, line.c_str());
    }
    t.header_list = curl_slist_append(t.header_list, "Expect:");
    curl_easy_setopt(easy, CURLOPT_HTTPHEADER, t.header_list);

    curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, &Impl::on_header_data);
    curl_easy_setopt(easy, CURLOPT_HEADERDATA, &t);
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, &Impl::on_body_data);
    curl_easy_setopt(easy, CURLOPT_WRITEDATA, &t);
    curl_easy_setopt(easy, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(easy, CURLOPT_XFERINFOFUNCTION, &Impl::on_progress);
    curl_easy_setopt(easy, CURLOPT_XFERINFODATA, &t);

    if (!params.tls.verify) {
      curl_easy_setopt(easy, CURLOPT_SSL_VERIFYPEER, 0L);
      curl_easy_setopt(easy, CURLOPT_SSL_VERIFYHOST, 0L);
    } else if (!extra_cas.empty()) {
      curl_easy_setopt(easy, CURLOPT_SSL_CTX_FUNCTION, &Impl::on_ssl_context);
      // curl caches the CA store per multi handle, i.e. per HttpClient, whose extra CAs are
      // always the same: adding them again to a cached store is a no-op.
      curl_easy_setopt(easy, CURLOPT_SSL_CTX_DATA, this);
    }
    return true;
  }

  static CURLcode on_ssl_context(CURL*, void* ssl_ctx, void* user) {
    auto* self = static_cast<Impl*>(user);
    detail::add_trusted_certificates(static_cast<SSL_CTX*>(ssl_ctx), self->extra_cas);
    return CURLE_OK;
  }

  static void mark_rx(Transfer& t) {
    t.last_rx = Clock::now();
    if (!t.first_byte_at) {
      t.first_byte_at = t.last_rx;
    }
  }

  static size_t on_header_data(char* data, size_t size, size_t count, void* user) {
    auto& t = *static_cast<Transfer*>(user);
    const size_t bytes = size * count;
    mark_rx(t);
    std::string_view line(data, bytes);
    if (line.rfind("HTTP/", 0) == 0) {
      // A new response block (1xx interim responses come before the final one).
      t.headers.clear();
      const auto space = line.find(' ');
      t.status = space == std::string_view::npos
                     ? 0
                     : std::atoi(std::string(line.substr(space + 1, 3)).c_str());
      return bytes;
    }
    const auto colon = line.find(':');
    if (colon != std::string_view::npos && colon > 0) {
      t.headers.push_back(
          {std::string(trim(line.substr(0, colon))), std::string(trim(line.substr(colon + 1)))});
    }
    return bytes;
  }

  static size_t on_body_data(char* data, size_t size, size_t count, void* user) {
    auto& t = *static_cast<Transfer*>(user);
    const size_t bytes = size * count;
    mark_rx(t);
    if (t.cancel_requested.load(std::memory_order_acquire)) {
      return 0; // abort promptly
    }
    if (t.status >= 200 && t.status < 300) {
      deliver_head(t);
      t.body_bytes += bytes;
      if (t.handlers.on_chunk && !t.handlers.on_chunk(std::string_view(data, bytes))) {
        t.local_error = make_error(HttpErrorKind::cancelled, "stopped by the chunk handler");
        return 0;
      }
    } else {
      const size_t room = t.request.max_error_body_bytes -
                          std::min(t.error_body.size(), t.request.max_error_body_bytes);
      t.error_body.append(data, std::min(room, bytes));
    }
    return bytes;
  }

  static int on_progress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
    auto& t = *static_cast<Transfer*>(user);
    return t.cancel_requested.load(std::memory_order_acquire) ? 1 : 0;
  }

  static void deliver_head(Transfer& t) {
    if (t.head_delivered) {
      return;
    }
    t.head_delivered = true;
    if (t.handlers.on_head) {
      t.handlers.on_head(HttpResponseHead{t.status, t.headers});
    }
  }

  void handle_cancellations() {
    PV_ASSERT_OWNER(worker_owner);
    std::vector<Transfer*> cancelled;
    for (auto& [easy, transfer] : running) {
      if (transfer->cancel_requested.load(std::memory_order_acquire)) {
        cancelled.push_back(transfer.get());
      }
    }
    for (Transfer* t : cancelled) {
      finish(*t, tl::unexpected(make_error(HttpErrorKind::cancelled, "cancelled by the caller")));
    }
  }

  // Applies the first-byte and idle timeouts; returns how long the worker may sleep.
  int enforce_deadlines() {
    PV_ASSERT_OWNER(worker_owner);
    const auto now = Clock::now();
    auto next = now + milliseconds(kMaxPollMs);
    std::vector<std::pair<Transfer*, HttpError>> expired;
    for (auto& [easy, transfer] : running) {
      Transfer& t = *transfer;
      const HttpTimeouts& limits = t.request.timeouts;
      // Until the first byte, first_byte_ms counts from the start; then idle_ms from the last
      // byte received.
      const bool waiting = !t.first_byte_at;
      const auto limit = waiting ? limits.first_byte_ms : limits.idle_ms;
      if (limit <= 0) {
        continue;
      }
      const auto deadline = (waiting ? t.started : t.last_rx) + milliseconds(limit);
      if (now < deadline) {
        next = std::min(next, deadline);
        continue;
      }
      const std::string ms = std::to_string(limit) + " ms";
      expired.emplace_back(&t, waiting
                                   ? make_error(HttpErrorKind::timeout,
                                                "no response from " + t.host + " within " + ms,
                                                HttpTimeout::first_byte)
                                   : make_error(HttpErrorKind::timeout,
                                                "response from " + t.host + " stalled for " + ms,
                                                HttpTimeout::idle));
    }
    for (auto& [t, error] : expired) {
      finish(*t, tl::unexpected(std::move(error)));
    }
    return static_cast<int>(std::clamp<long long>(
        std::chrono::duration_cast<milliseconds>(next - Clock::now()).count() + 1, 0, kMaxPollMs));
  }

  void drain_finished() {
    PV_ASSERT_OWNER(worker_owner);
    int queued = 0;
    while (CURLMsg* message = curl_multi_info_read(multi, &queued)) {
      if (message->msg != CURLMSG_DONE) {
        continue;
      }
      Transfer* t = nullptr;
      curl_easy_getinfo(message->easy_handle, CURLINFO_PRIVATE, &t);
      if (t != nullptr) {
        finish(*t, classify(*t, message->data.result));
      }
    }
  }

  HttpResult classify(Transfer& t, CURLcode code) {
    if (t.local_error) {
      return tl::unexpected(*t.local_error);
    }
    long status = 0;
    curl_easy_getinfo(t.easy, CURLINFO_RESPONSE_CODE, &status);
    const std::string detail =
        t.error_buffer[0] != '\0' ? t.error_buffer : curl_easy_strerror(code);
    if (code == CURLE_ABORTED_BY_CALLBACK ||
        (code == CURLE_WRITE_ERROR && t.cancel_requested.load())) {
      return tl::unexpected(make_error(HttpErrorKind::cancelled, "cancelled by the caller"));
    }
    // A non-2xx status is the most useful report even when its body was cut short.
    if (status >= 300) {
      HttpError error =
          make_error(HttpErrorKind::http_status,
                     t.request.method + " " + t.host + " answered HTTP " + std::to_string(status));
      error.status = static_cast<int>(status);
      error.body_snippet = t.error_body;
      error.headers = t.headers;
      if (auto retry = find_header(t.headers, "Retry-After")) {
        error.retry_after = parse_retry_after(*retry);
      }
      return tl::unexpected(std::move(error));
    }
    switch (code) {
    case CURLE_OK: {
      HttpDone done;
      done.status = static_cast<int>(status);
      done.headers = t.headers;
      done.body_bytes = t.body_bytes;
      done.first_byte_latency =
          t.first_byte_at ? since(t.started, *t.first_byte_at) : milliseconds(0);
      done.total_latency = since(t.started);
      return done;
    }
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_CONNECT:
      return tl::unexpected(
          make_error(HttpErrorKind::connect_failed, "cannot connect to " + t.host + ": " + detail));
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_SSL_ENGINE_SETFAILED:
    case CURLE_SSL_ENGINE_INITFAILED:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_SHUTDOWN_FAILED:
    case CURLE_USE_SSL_FAILED:
    case CURLE_SSL_CLIENTCERT:
      return tl::unexpected(
          make_error(HttpErrorKind::tls_error, "TLS with " + t.host + " failed: " + detail));
    case CURLE_OPERATION_TIMEDOUT: {
      curl_off_t connected_us = 0;
      curl_easy_getinfo(t.easy, t.https ? CURLINFO_APPCONNECT_TIME_T : CURLINFO_CONNECT_TIME_T,
                        &connected_us);
      const bool total_expired = t.request.timeouts.total_ms > 0 &&
                                 since(t.started) >= milliseconds(t.request.timeouts.total_ms);
      if (connected_us == 0 && !total_expired) {
        return tl::unexpected(make_error(HttpErrorKind::timeout,
                                         "connect to " + t.host + " timed out after " +
                                             std::to_string(t.request.timeouts.connect_ms) + " ms",
                                         HttpTimeout::connect));
      }
      return tl::unexpected(make_error(HttpErrorKind::timeout,
                                       "request to " + t.host + " exceeded its " +
                                           std::to_string(t.request.timeouts.total_ms) +
                                           " ms total limit",
                                       HttpTimeout::total));
    }
    case CURLE_PARTIAL_FILE:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_HTTP2_STREAM:
      return tl::unexpected(make_error(HttpErrorKind::disconnected,
                                       t.host + " closed the connection before the response " +
                                           "was complete: " + detail));
    default:
      return tl::unexpected(
          make_error(HttpErrorKind::protocol, "request to " + t.host + " failed: " + detail));
    }
  }

  // Removes a running transfer and completes it.
  void finish(Transfer& t, HttpResult result) {
    PV_ASSERT_OWNER(worker_owner);
    auto it = running.find(t.easy);
    std::shared_ptr<Transfer> keep;
    if (it != running.end()) {
      keep = it->second;
      running.erase(it);
      curl_multi_remove_handle(multi, t.easy);
    }
    if (result && result->status >= 200 && result->status < 300) {
      deliver_head(t); // empty bodies still get their head
    }
    complete(t, result);
  }

  void complete(Transfer& t, const HttpResult& result) {
    if (t.completed.exchange(true, std::memory_order_acq_rel)) {
      return;
    }
    if (!result && spdlog::should_log(spdlog::level::debug)) {
      spdlog::debug("[{}] {} {} -> {}", params.name, t.request.method,
                    pv::log::redact(t.request.url), result.error().describe());
    }
    active.fetch_sub(1, std::memory_order_relaxed);
    if (t.handlers.on_complete) {
      t.handlers.on_complete(result);
    }
  }
};

// ---------------------------------------------------------------------------------------------

tl::expected<std::unique_ptr<HttpClient>, HttpError> HttpClient::create(HttpClientParams params) {
  std::call_once(g_curl_init, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  if (!params.tls.server_name.empty()) {
    return tl::unexpected(make_error(HttpErrorKind::invalid_argument,
                                     "TlsClientParams::server_name is not supported by the HTTP "
                                     "client; use the URL host"));
  }
  auto impl = std::make_unique<Impl>();
  if (params.tls.verify && !params.tls.ca_file.empty()) {
    auto certs = detail::load_pem_certificates(params.tls.ca_file);
    if (!certs) {
      return tl::unexpected(make_error(HttpErrorKind::tls_error, certs.error().message));
    }
    impl->extra_cas = std::move(*certs);
  }
  impl->params = std::move(params);
  impl->multi = curl_multi_init();
  if (impl->multi == nullptr) {
    return tl::unexpected(make_error(HttpErrorKind::protocol, "curl_multi_init failed"));
  }
  curl_multi_setopt(impl->multi, CURLMOPT_PIPELINING, CURLPIPE_MULTIPLEX);
  {
    std::lock_guard lock(impl->waker->mutex);
    impl->waker->multi = impl->multi;
  }
  Impl* raw = impl.get();
  impl->worker = std::thread([raw] { raw->run(); });
  return std::unique_ptr<HttpClient>(new HttpClient(std::move(impl)));
}

HttpClient::HttpClient(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

HttpClient::~HttpClient() {
  {
    std::lock_guard lock(impl_->mutex);
    impl_->stopping = true;
  }
  impl_->waker->wake();
  if (impl_->worker.joinable()) {
    impl_->worker.join();
  }
  std::lock_guard lock(impl_->waker->mutex);
  impl_->waker->multi = nullptr; // outstanding HttpCall handles no longer wake anything
}

std::shared_ptr<HttpCall> HttpClient::start(HttpRequest request, HttpStreamHandlers handlers) {
  auto transfer = std::make_shared<Transfer>(std::move(request), std::move(handlers), impl_->waker);
  const HttpRequest& r = transfer->request;
  auto url = parse_url(r.url);
  if (!url) {
    transfer->early_error = make_error(HttpErrorKind::invalid_argument, url.error().message);
  } else if (url->scheme != "http" && url->scheme != "https") {
    transfer->early_error =
        make_error(HttpErrorKind::invalid_argument, "HTTP URL must start with http:// or https://");
  } else if (!is_token(r.method)) {
    transfer->early_error =
        make_error(HttpErrorKind::invalid_argument, "invalid HTTP method '" + r.method + "'");
  } else if (r.timeouts.connect_ms <= 0 || r.timeouts.first_byte_ms < 0 || r.timeouts.idle_ms < 0 ||
             r.timeouts.total_ms < 0) {
    transfer->early_error = make_error(HttpErrorKind::invalid_argument,
                                       "connect timeout must be positive, others >= 0");
  } else {
    for (const auto& header : r.headers) {
      if (!is_token(header.name) || has_line_break(header.value)) {
        transfer->early_error =
            make_error(HttpErrorKind::invalid_argument, "invalid header '" + header.name + "'");
        break;
      }
    }
  }
  if (url) {
    transfer->https = url->scheme == "https";
    transfer->host = url->host_header();
  }
  impl_->submit(transfer);
  return transfer;
}

tl::expected<HttpResponse, HttpError> HttpClient::perform(HttpRequest request,
                                                          std::stop_token stop) {
  if (impl_->worker_id.load() == std::this_thread::get_id()) {
    return tl::unexpected(make_error(HttpErrorKind::invalid_argument,
                                     "perform() called from an HTTP handler would deadlock"));
  }
  struct State {
    std::mutex mutex;
    std::condition_variable cv;
    bool done = false;
    bool too_large = false;
    HttpResponse response;
    std::optional<HttpError> error;
  };
  auto state = std::make_shared<State>();
  const std::size_t max_body = request.max_body_bytes;
  HttpStreamHandlers handlers;
  handlers.on_head = [state](const HttpResponseHead& head) {
    state->response.status = head.status;
    state->response.headers = head.headers;
  };
  handlers.on_chunk = [state, max_body](std::string_view chunk) {
    if (state->response.body.size() + chunk.size() > max_body) {
      state->too_large = true;
      return false;
    }
    state->response.body.append(chunk);
    return true;
  };
  handlers.on_complete = [state, max_body](const HttpResult& result) {
    std::lock_guard lock(state->mutex);
    if (state->too_large) {
      state->error = make_error(HttpErrorKind::protocol,
                                "response body exceeds " + std::to_string(max_body) + " bytes");
    } else if (!result) {
      state->error = result.error();
    } else {
      state->response.status = result->status;
      state->response.headers = result->headers;
    }
    state->done = true;
    state->cv.notify_all();
  };
  auto call = start(std::move(request), std::move(handlers));
  std::stop_callback on_stop(stop, [call] { call->cancel(); });
  std::unique_lock lock(state->mutex);
  state->cv.wait(lock, [&] { return state->done; });
  if (state->error) {
    return tl::unexpected(std::move(*state->error));
  }
  return std::move(state->response);
}

std::size_t HttpClient::active_calls() const {
  return impl_->active.load(std::memory_order_relaxed);
}

} // namespace pv::net
