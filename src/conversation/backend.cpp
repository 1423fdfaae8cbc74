#include "conversation/backend.hpp"

namespace pv::conversation {

const char* to_string(ErrorKind kind) {
  switch (kind) {
  case ErrorKind::connect_refused:
    return "connect_refused";
  case ErrorKind::tls_error:
    return "tls_error";
  case ErrorKind::http_rejected:
    return "http_rejected";
  case ErrorKind::closed_before_handshake:
    return "closed_before_handshake";
  case ErrorKind::handshake_timeout:
    return "handshake_timeout";
  case ErrorKind::server_closed:
    return "server_closed";
  case ErrorKind::decode_error:
    return "decode_error";
  case ErrorKind::send_error:
    return "send_error";
  case ErrorKind::no_audio:
    return "no_audio";
  case ErrorKind::turn_timeout:
    return "turn_timeout";
  case ErrorKind::asr_failed:
    return "asr_failed";
  case ErrorKind::llm_failed:
    return "llm_failed";
  case ErrorKind::tts_failed:
    return "tts_failed";
  case ErrorKind::provider_timeout:
    return "provider_timeout";
  case ErrorKind::rate_limited:
    return "rate_limited";
  case ErrorKind::config:
    return "config";
  case ErrorKind::internal:
    return "internal";
  }
  return "unknown";
}

} // namespace pv::conversation
