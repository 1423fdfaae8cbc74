#include "cascade/provider_error.hpp"

namespace pv::cascade {

const char* to_string(ProviderErrorKind kind) {
  switch (kind) {
  case ProviderErrorKind::config:
    return "config";
  case ProviderErrorKind::model_load:
    return "model_load";
  case ProviderErrorKind::bad_input:
    return "bad_input";
  case ProviderErrorKind::busy:
    return "busy";
  case ProviderErrorKind::first_token_timeout:
    return "first_token_timeout";
  case ProviderErrorKind::timeout:
    return "timeout";
  case ProviderErrorKind::rate_limited:
    return "rate_limited";
  case ProviderErrorKind::auth:
    return "auth";
  case ProviderErrorKind::http:
    return "http";
  case ProviderErrorKind::disconnected:
    return "disconnected";
  case ProviderErrorKind::protocol:
    return "protocol";
  case ProviderErrorKind::cancelled:
    return "cancelled";
  case ProviderErrorKind::internal:
    return "internal";
  }
  return "unknown";
}

bool is_transient(ProviderErrorKind kind, int http_status) {
  switch (kind) {
  case ProviderErrorKind::busy:
  case ProviderErrorKind::first_token_timeout:
  case ProviderErrorKind::timeout:
  case ProviderErrorKind::rate_limited:
  case ProviderErrorKind::disconnected:
    return true;
  case ProviderErrorKind::http:
    return http_status >= 500;
  default:
    return false;
  }
}

} // namespace pv::cascade
