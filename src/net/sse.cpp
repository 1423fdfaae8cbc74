#include "net/sse.hpp"

#include <algorithm>
#include <charconv>

namespace pv::net {

SseParser::SseParser(EventHandler on_event, SseParams params, CommentHandler on_comment)
    : on_event_(std::move(on_event)), on_comment_(std::move(on_comment)), params_(params) {}

tl::expected<void, SseError> SseParser::fail(std::string message) {
  failed_ = SseError{SseErrorKind::too_large, std::move(message)};
  return tl::unexpected(*failed_);
}

tl::expected<void, SseError> SseParser::feed(std::string_view chunk) {
  PV_ASSERT_OWNER(owner_);
  if (failed_) {
    return tl::unexpected(*failed_);
  }
  std::size_t pos = 0;
  if (skip_lf_ && !chunk.empty()) {
    skip_lf_ = false;
    if (chunk.front() == '\n') {
      pos = 1;
    }
  }
  while (pos < chunk.size()) {
    const auto end = chunk.find_first_of("\r\n", pos);
    if (end == std::string_view::npos) {
      line_.append(chunk.substr(pos));
      if (line_.size() > params_.max_event_bytes) {
        return fail("SSE line longer than " + std::to_string(params_.max_event_bytes) + " bytes");
      }
      break;
    }
    line_.append(chunk.substr(pos, end - pos));
    if (line_.size() > params_.max_event_bytes) {
      return fail("SSE line longer than " + std::to_string(params_.max_event_bytes) + " bytes");
    }
    pos = end + 1;
    if (chunk[end] == '\r') {
      if (pos < chunk.size()) {
        if (chunk[pos] == '\n') {
          ++pos;
        }
      } else {
        skip_lf_ = true; // CRLF may be split across chunks
      }
    }
    process_line(line_);
    line_.clear();
    if (data_.size() > params_.max_event_bytes) {
      return fail("SSE event data larger than " + std::to_string(params_.max_event_bytes) +
                  " bytes");
    }
  }
  return {};
}

tl::expected<void, SseError> SseParser::finish() {
  PV_ASSERT_OWNER(owner_);
  if (failed_) {
    return tl::unexpected(*failed_);
  }
  if (event_started_ || !line_.empty()) {
    return tl::unexpected(
        SseError{SseErrorKind::incomplete, "SSE stream ended inside an unterminated event"});
  }
  return {};
}

void SseParser::process_line(std::string_view line) {
  if (at_stream_start_) {
    at_stream_start_ = false;
    constexpr std::string_view kBom = "\xEF\xBB\xBF";
    if (line.substr(0, kBom.size()) == kBom) {
      line.remove_prefix(kBom.size());
    }
  }
  if (line.empty()) {
    dispatch();
    return;
  }
  if (line.front() == ':') {
    if (on_comment_) {
      on_comment_(line.substr(1));
    }
    return;
  }
  event_started_ = true;
  const auto colon = line.find(':');
  std::string_view field = line.substr(0, colon);
  std::string_view value;
  if (colon != std::string_view::npos) {
    value = line.substr(colon + 1);
    if (!value.empty() && value.front() == ' ') {
      value.remove_prefix(1);
    }
  }
  if (field == "event") {
    type_.assign(value);
  } else if (field == "data") {
    data_.append(value);
    data_.push_back('\n');
  } else if (field == "id") {
    if (value.find('\0') == std::string_view::npos) {
      last_event_id_.assign(value);
    }
  } else if (field == "retry") {
    int ms = 0;
    const bool digits = !value.empty() && std::all_of(value.begin(), value.end(),
                                                      [](char c) { return c >= '0' && c <= '9'; });
    if (digits) {
      const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), ms);
      if (ec == std::errc{} && end == value.data() + value.size()) {
        retry_ms_ = ms;
      }
    }
  }
  // Other field names are ignored.
}

void SseParser::dispatch() {
  event_started_ = false;
  if (data_.empty()) {
    type_.clear();
    return;
  }
  data_.pop_back(); // the trailing '\n'
  event_.type = type_.empty() ? "message" : type_;
  event_.data.swap(data_);
  event_.id = last_event_id_;
  data_.clear();
  type_.clear();
  ++dispatched_;
  if (on_event_) {
    on_event_(event_);
  }
}

} // namespace pv::net
