#include "net/ws_types.hpp"

namespace pv::net {

const char* to_string(WsErrorKind kind) {
  switch (kind) {
  case WsErrorKind::invalid_argument:
    return "invalid_argument";
  case WsErrorKind::connect_refused:
    return "connect_refused";
  case WsErrorKind::tls_error:
    return "tls_error";
  case WsErrorKind::http_rejected:
    return "http_rejected";
  case WsErrorKind::timeout:
    return "timeout";
  case WsErrorKind::closed:
    return "closed";
  case WsErrorKind::read_error:
    return "read_error";
  case WsErrorKind::send_error:
    return "send_error";
  case WsErrorKind::cancelled:
    return "cancelled";
  }
  return "unknown";
}

const char* to_string(WsTimeout which) {
  switch (which) {
  case WsTimeout::none:
    return "none";
  case WsTimeout::connect:
    return "connect";
  case WsTimeout::idle:
    return "idle";
  case WsTimeout::close:
    return "close";
  }
  return "unknown";
}

const char* to_string(WsSendStatus status) {
  switch (status) {
  case WsSendStatus::queued:
    return "queued";
  case WsSendStatus::queue_full:
    return "queue_full";
  case WsSendStatus::closed:
    return "closed";
  }
  return "unknown";
}

std::string WsError::describe() const {
  std::string out = to_string(kind);
  if (kind == WsErrorKind::http_rejected) {
    out += " (" + std::to_string(http_status) + ")";
  } else if (kind == WsErrorKind::timeout) {
    out += std::string(" (") + to_string(timeout) + ")";
  } else if (kind == WsErrorKind::closed) {
    out += " (" + std::to_string(close_code) + (close_frame ? "" : ", no close frame") +
           (local ? ", local" : "") + ")";
  }
  if (!message.empty()) {
    out += ": " + message;
  }
  return out;
}

std::string_view WsUpgradeRequest::path() const {
  std::string_view t(target);
  return t.substr(0, t.find('?'));
}

std::string_view WsUpgradeRequest::query() const {
  std::string_view t(target);
  const auto q = t.find('?');
  return q == std::string_view::npos ? std::string_view{} : t.substr(q + 1);
}

} // namespace pv::net
