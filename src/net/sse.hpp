#pragma once
// Server-Sent Events parser (WHATWG HTML §9.2.6 "event stream interpretation"), incremental:
// feed it response chunks as they arrive, split anywhere (even inside a CRLF or a UTF-8
// sequence), and it emits the same events as for the whole stream.
//
// Fields: `event` (type, default "message"), `data` (several lines joined with '\n'), `id`
// (remembered across events; ignored if it contains NUL), `retry` (digits only). Lines starting
// with ':' are comments. Lines end with CRLF, LF or CR. A leading UTF-8 BOM is skipped. An event
// with no data is not dispatched; an unterminated event at end of stream is discarded, as the
// spec says (call finish() to check for one).
//
// Owner: one thread (checked with util::ThreadOwner in debug builds), typically the HTTP
// client's worker feeding it from HttpStreamHandlers::on_chunk.

#include "util/thread_owner.hpp"

#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include <tl/expected.hpp>

namespace pv::net {

struct SseEvent {
  std::string type = "message";
  std::string data;
  std::string id; // the last event ID in effect for this event

  bool operator==(const SseEvent&) const = default;
};

struct SseParams {
  std::size_t max_event_bytes = 1u << 20; // bound on one line and on one event's data
};

enum class SseErrorKind {
  too_large,  // a line or an event exceeded max_event_bytes
  incomplete, // finish(): the stream ended inside an event
};

struct SseError {
  SseErrorKind kind = SseErrorKind::too_large;
  std::string message;
};

class SseParser {
public:
  using EventHandler = std::function<void(const SseEvent&)>;
  using CommentHandler = std::function<void(std::string_view)>;

  explicit SseParser(EventHandler on_event, SseParams params = {}, CommentHandler on_comment = {});

  // Parses a chunk; on_event runs for each complete event. After an error the parser stays
  // failed (the stream is unusable) and further feeds return the same error.
  tl::expected<void, SseError> feed(std::string_view chunk);

  // End of stream: an error if an event was started but not terminated by a blank line.
  tl::expected<void, SseError> finish();

  const std::string& last_event_id() const { return last_event_id_; }
  std::optional<int> retry_ms() const { return retry_ms_; }
  std::size_t events_dispatched() const { return dispatched_; }

private:
  void process_line(std::string_view line);
  void dispatch();
  tl::expected<void, SseError> fail(std::string message);

  EventHandler on_event_;
  CommentHandler on_comment_;
  SseParams params_;

  std::string line_;
  bool skip_lf_ = false; // the previous chunk ended with CR: a leading LF belongs to it
  bool at_stream_start_ = true;
  std::string data_;
  std::string type_;
  std::string last_event_id_;
  bool event_started_ = false;
  std::optional<int> retry_ms_;
  std::optional<SseError> failed_;
  std::size_t dispatched_ = 0;
  SseEvent event_; // reused for each dispatch
  util::ThreadOwner owner_;
};

} // namespace pv::net
