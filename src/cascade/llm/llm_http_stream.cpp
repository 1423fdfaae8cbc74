#include "cascade/llm/llm_http_stream.hpp"

#include "cascade/http/http_stream.hpp"

#include <algorithm>

namespace pv::cascade::http {

namespace {

using std::chrono::milliseconds;

double ms_since(Clock::time_point start, Clock::time_point end = Clock::now()) {
  return std::chrono::duration<double, std::milli>(end - start).count();
}

bool content_type_has(const std::optional<net::HttpResponseHead>& head, std::string_view what) {
  if (!head) {
    return false;
  }
  const auto type = net::find_header(head->headers, "Content-Type");
  return type && type->find(what) != std::string_view::npos;
}

} // namespace

tl::expected<LlmResult, ProviderError>
run_llm_stream(net::HttpClient& client, net::HttpRequest http_request, const LlmRequest& request,
               const TokenSink& sink, const LlmStreamParams& params, const LlmWireFormat& format) {
  static const Secrets kNoSecrets;
  const Secrets& secrets = params.secrets != nullptr ? *params.secrets : kNoSecrets;
  const std::string& what = params.what;
  if (auto valid = validate_llm_request(request); !valid) {
    return tl::unexpected(valid.error());
  }
  if (request.cancel.cancelled()) {
    return tl::unexpected(make_error(ProviderErrorKind::cancelled, what + ": cancelled"));
  }

  const auto started = Clock::now();
  StreamDeadlines deadlines(request.first_token_timeout, request.total_timeout);
  deadlines.start(started);
  const auto total_deadline = started + request.total_timeout;
  // The HTTP layer's own total limit is only a backstop: this loop reports deadlines first.
  http_request.timeouts.total_ms = static_cast<int>(request.total_timeout.count()) + 1000;
  HttpStream stream(client, std::move(http_request));

  LlmResult result;
  LlmStreamState state;
  std::optional<ProviderError> failure;
  std::vector<net::SseEvent> events;
  net::SseParser parser([&](const net::SseEvent& event) { events.push_back(event); });
  std::optional<bool> json_mode; // decided on the first body bytes
  std::string json_body;
  Clock::time_point last_piece = started;
  std::optional<Clock::time_point> done_at;
  std::string bytes;

  auto finish_ok = [&]() -> tl::expected<LlmResult, ProviderError> {
    if (state.finish) {
      result.finish = *state.finish;
    }
    result.first_token_ms = deadlines.first_token_ms();
    result.total_ms = ms_since(started);
    return result;
  };
  // Delivers the pieces collected in `state`; false when the sink asked to stop or the call was
  // cancelled (no piece is delivered after a cancellation).
  bool cancelled = false;
  auto deliver = [&]() {
    for (auto& piece : state.pieces) {
      if (piece.empty()) {
        continue;
      }
      if (request.cancel.cancelled()) {
        cancelled = true;
        state.pieces.clear();
        return false;
      }
      const auto now = Clock::now();
      deadlines.on_piece(now);
      last_piece = now;
      result.text += piece;
      ++result.pieces;
      if (!sink(piece)) {
        state.pieces.clear();
        return false;
      }
    }
    state.pieces.clear();
    return true;
  };

  for (;;) {
    Clock::time_point until = total_deadline;
    if (done_at) {
      until = std::min(until, *done_at + params.close_grace);
    } else if (!deadlines.got_first()) {
      until = std::min(until, started + request.first_token_timeout);
    } else {
      until = std::min(until, last_piece + params.idle_timeout);
    }
    bytes.clear();
    switch (stream.wait(bytes, until, request.cancel)) {
    case HttpStream::Wait::data: {
      if (done_at) {
        break; // nothing after the end marker matters
      }
      if (!json_mode) {
        // A web page instead of an event stream: a wrong base URL or a captive proxy.
        if (content_type_has(stream.head(), "text/html")) {
          stream.cancel();
          return tl::unexpected(make_error(
              ProviderErrorKind::protocol,
              what + ": the server answered a web page, not an event stream (check the base URL)"));
        }
        json_mode = content_type_has(stream.head(), "application/json");
      }
      if (*json_mode) {
        json_body += bytes;
        break;
      }
      auto fed = parser.feed(bytes);
      if (!fed) {
        return tl::unexpected(make_error(ProviderErrorKind::protocol,
                                         what + ": unusable event stream: " + fed.error().message));
      }
      for (const auto& event : events) {
        if (auto handled = format.on_event(event, state); !handled) {
          failure = std::move(handled.error());
        }
        if (!deliver()) {
          stream.cancel();
          if (cancelled) {
            return tl::unexpected(make_error(ProviderErrorKind::cancelled, what + ": cancelled"));
          }
          result.finish = FinishReason::stopped_by_caller;
          result.first_token_ms = deadlines.first_token_ms();
          result.total_ms = ms_since(started);
          return result;
        }
        if (failure) {
          return tl::unexpected(std::move(*failure));
        }
        if (state.done) {
          done_at = Clock::now();
          break;
        }
      }
      events.clear();
      break;
    }
    case HttpStream::Wait::finished: {
      const net::HttpResult& http_result = stream.result();
      if (done_at) {
        return finish_ok(); // the answer was complete before the connection ended
      }
      if (!http_result) {
        ProviderError error = format.on_http_error
                                  ? format.on_http_error(http_result.error())
                                  : to_provider_error(http_result.error(), what, secrets);
        if (error.kind == ProviderErrorKind::disconnected && result.pieces > 0) {
          error.message += " (after " + std::to_string(result.pieces) + " text pieces)";
        }
        return tl::unexpected(std::move(error));
      }
      if (json_mode.value_or(false)) {
        if (auto handled = format.on_json_body(json_body, state); !handled) {
          return tl::unexpected(std::move(handled.error()));
        }
        if (!deliver()) {
          if (cancelled) {
            return tl::unexpected(make_error(ProviderErrorKind::cancelled, what + ": cancelled"));
          }
          result.finish = FinishReason::stopped_by_caller;
          result.first_token_ms = deadlines.first_token_ms();
          result.total_ms = ms_since(started);
          return result;
        }
        return finish_ok();
      }
      if (state.finish) {
        return finish_ok(); // a finish reason without the [DONE] line: some servers skip it
      }
      return tl::unexpected(make_error(ProviderErrorKind::disconnected,
                                       what + ": the stream ended before its end marker (after " +
                                           std::to_string(result.pieces) + " text pieces)"));
    }
    case HttpStream::Wait::cancelled:
      return tl::unexpected(make_error(ProviderErrorKind::cancelled, what + ": cancelled"));
    case HttpStream::Wait::deadline: {
      const auto now = Clock::now();
      if (done_at) {
        stream.cancel(); // the server did not close the response: do not wait any longer
        return finish_ok();
      }
      if (const auto expired = deadlines.check(now)) {
        stream.cancel();
        if (*expired == ProviderErrorKind::first_token_timeout) {
          return tl::unexpected(make_error(*expired, what + ": no text within " +
                                                         ms_text(request.first_token_timeout)));
        }
        return tl::unexpected(
            make_error(*expired, what + ": the reply exceeded its " +
                                     ms_text(request.total_timeout) + " total limit (after " +
                                     std::to_string(result.pieces) + " text pieces)"));
      }
      if (deadlines.got_first() && now - last_piece >= params.idle_timeout) {
        stream.cancel();
        return tl::unexpected(make_error(ProviderErrorKind::timeout,
                                         what + ": the stream stalled: no text for " +
                                             ms_text(params.idle_timeout) + " (after " +
                                             std::to_string(result.pieces) + " text pieces)"));
      }
      break;
    }
    }
  }
}

} // namespace pv::cascade::http
