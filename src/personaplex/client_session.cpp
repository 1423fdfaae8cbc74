#include "personaplex/client_session.hpp"

#include "log/log.hpp"
#include "net/ws_client.hpp"
#include "personaplex/protocol.hpp"

#include <array>
#include <future>
#include <random>
#include <utility>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

namespace pv::personaplex {

using conversation::BackendError;
using conversation::ErrorKind;

namespace {

BackendError make_error(ErrorKind kind, std::string message, bool retryable) {
  BackendError error;
  error.kind = kind;
  error.message = std::move(message);
  error.retryable = retryable;
  return error;
}

bool is_final(SessionState state) {
  return state == SessionState::closed || state == SessionState::failed;
}

} // namespace

const char* to_string(SessionState state) {
  switch (state) {
  case SessionState::created:
    return "created";
  case SessionState::connecting:
    return "connecting";
  case SessionState::waiting_handshake:
    return "waiting_handshake";
  case SessionState::streaming:
    return "streaming";
  case SessionState::closing:
    return "closing";
  case SessionState::closed:
    return "closed";
  case SessionState::failed:
    return "failed";
  }
  return "unknown";
}

BackendError classify_connection_end(const net::WsError& end, bool opened, bool handshake) {
  using net::WsErrorKind;
  switch (end.kind) {
  case WsErrorKind::connect_refused:
    return make_error(ErrorKind::connect_refused, end.message, true);
  case WsErrorKind::tls_error:
    return make_error(ErrorKind::tls_error, end.message, false);
  case WsErrorKind::http_rejected: {
    const int status = end.http_status;
    std::string message = end.message;
    if (!end.retry_after.empty()) {
      message += " (Retry-After: " + end.retry_after + ")";
    }
    const bool retryable = status == 429 || status >= 500;
    return make_error(ErrorKind::http_rejected, std::move(message), retryable);
  }
  case WsErrorKind::timeout:
    if (end.timeout == net::WsTimeout::connect || !opened) {
      return make_error(ErrorKind::connect_refused, end.message, true);
    }
    if (end.timeout == net::WsTimeout::idle && !handshake) {
      return make_error(ErrorKind::handshake_timeout,
                        "no handshake from the server within the handshake timeout "
                        "(PERSONAPLEX_HANDSHAKE_TIMEOUT_MS): its prompt phase is slow, or the "
                        "session is queued behind another one",
                        true);
    }
    if (end.timeout == net::WsTimeout::idle) {
      return make_error(ErrorKind::no_audio,
                        "no message from the server within PERSONAPLEX_NO_AUDIO_TIMEOUT_MS while "
                        "audio was being sent: the server stalled",
                        true);
    }
    return make_error(ErrorKind::server_closed, end.message, true);
  case WsErrorKind::closed: {
    const std::string how =
        end.close_frame ? "with Close " + std::to_string(end.close_code) +
                              (end.close_reason.empty() ? "" : " (" + end.close_reason + ")")
                        : std::string("without a Close frame");
    if (!opened) {
      return make_error(ErrorKind::closed_before_handshake,
                        "the connection closed during the WebSocket upgrade: " + end.message, true);
    }
    if (!handshake) {
      return make_error(ErrorKind::closed_before_handshake,
                        "the server closed the connection " + how +
                            " before its handshake; without a Close frame this is how "
                            "PersonaPlex rejects bad parameters (check PERSONAPLEX_VOICE_PROMPT, "
                            "PERSONAPLEX_TEXT_PROMPT, PERSONAPLEX_SEED)",
                        false);
    }
    return make_error(ErrorKind::server_closed, "the server closed the session " + how, true);
  }
  case WsErrorKind::read_error:
    return make_error(ErrorKind::decode_error, "unreadable WebSocket data: " + end.message, true);
  case WsErrorKind::send_error:
    return make_error(ErrorKind::send_error, end.message, true);
  case WsErrorKind::invalid_argument:
    return make_error(ErrorKind::config, end.message, false);
  case WsErrorKind::cancelled:
    break;
  }
  return make_error(ErrorKind::internal, end.describe(), false);
}

tl::expected<std::shared_ptr<ClientSession>, BackendError>
ClientSession::create(boost::asio::io_context& io, SessionParams params) {
  if (params.playout_max_ms < audio::kFrameMs || params.playout_prebuffer_ms < 0 ||
      params.no_audio_timeout_ms <= 0 || params.handshake_timeout_ms <= 0) {
    return tl::unexpected(make_error(ErrorKind::config,
                                     "session parameters out of range (playout depth >= 20 ms, "
                                     "positive timeouts)",
                                     false));
  }
  audio::OpusEncoderParams opus;
  opus.sample_rate_hz = audio::kPersonaPlexRateHz;
  opus.voip = true;
  opus.complexity = params.opus_complexity;
  auto encoder = audio::OpusEncoder::create(opus);
  if (!encoder) {
    return tl::unexpected(
        make_error(ErrorKind::internal, "Opus encoder: " + encoder.error().message, false));
  }
  std::random_device entropy;
  const uint32_t serial = entropy();
  audio::OggOpusWriter writer(audio::standard_client_framing(
      serial, audio::opus_pre_skip_48k(encoder->lookahead_samples(), audio::kPersonaPlexRateHz)));
  auto decoder = ServerAudioDecoder::create(params.audible_threshold_dbfs);
  if (!decoder) {
    return tl::unexpected(make_error(ErrorKind::internal, decoder.error(), false));
  }
  std::shared_ptr<ClientSession> session(new ClientSession(
      io, std::move(params), std::move(*encoder), std::move(writer), std::move(*decoder)));

  net::WsClientParams ws;
  ws.url = session->params_.url;
  ws.headers = session->params_.headers;
  ws.connect_timeout_ms = session->params_.connect_timeout_ms;
  ws.close_timeout_ms = session->params_.close_timeout_ms;
  ws.max_message_bytes = 1u << 20; // the server's pages are a few hundred bytes
  ws.max_queued_bytes = session->params_.max_queued_bytes;
  ws.tls = session->params_.tls;
  ws.tls_context = session->params_.tls_context;
  ClientSession* self = session.get();
  net::WsClientHandlers handlers;
  // The handlers run on the client's strand; ~ClientSession detaches them before members die.
  handlers.on_open = [self](const net::WsOpenInfo&) {
    self->handle_open();
  };
  handlers.on_message = [self](const net::WsMessageView& message) {
    self->handle_message(message);
  };
  handlers.on_close = [self](const net::WsError& reason) {
    self->handle_close(reason);
  };
  auto client = net::WsClient::create(io, std::move(ws), std::move(handlers));
  if (!client) {
    const auto kind = client.error().kind == net::WsErrorKind::tls_error ? ErrorKind::tls_error
                                                                         : ErrorKind::config;
    return tl::unexpected(make_error(kind, client.error().message, false));
  }
  session->client_ = std::make_unique<net::WsClient>(std::move(*client));
  return session;
}

ClientSession::ClientSession(boost::asio::io_context& io, SessionParams params,
                             audio::OpusEncoder encoder, audio::OggOpusWriter writer,
                             ServerAudioDecoder decoder)
    : io_(io), params_(std::move(params)), encoder_(std::move(encoder)), writer_(std::move(writer)),
      decoder_(std::move(decoder)),
      playout_(audio::PlayoutBufferParams{audio::kRoomRateHz, params_.playout_max_ms,
                                          params_.playout_prebuffer_ms}) {
  packet_.reserve(1500);
  page_.reserve(1600);
}

ClientSession::~ClientSession() {
  // First: no handler may run on a half-destroyed session.
  client_.reset();
}

void ClientSession::dispose(std::shared_ptr<ClientSession>& session) {
  if (!session) {
    return;
  }
  auto& io = session->io_;
  boost::asio::post(io, [doomed = std::move(session)]() mutable { doomed.reset(); });
  session.reset();
}

bool ClientSession::drain(boost::asio::io_context& io, std::chrono::milliseconds timeout) {
  auto done = std::make_shared<std::promise<void>>();
  auto future = done->get_future();
  boost::asio::post(io, [done] { done->set_value(); });
  return future.wait_for(timeout) == std::future_status::ready;
}

void ClientSession::start() {
  if (started_.exchange(true)) {
    return;
  }
  started_at_ = std::chrono::steady_clock::now();
  SessionState expected = SessionState::created;
  state_.compare_exchange_strong(expected, SessionState::connecting);
  log::event(spdlog::level::debug, "PERSONAPLEX_SESSION_START", {{"session", params_.label}});
  client_->connect();
}

int64_t ClientSession::since_start_ms() const {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                               started_at_)
      .count();
}

int64_t ClientSession::media_now() const {
  return params_.media_time_ms ? params_.media_time_ms() : since_start_ms();
}

bool ClientSession::ended() const {
  return is_final(state());
}

std::optional<BackendError> ClientSession::error() const {
  std::lock_guard lock(error_mutex_);
  return error_;
}

std::string ClientSession::retry_after() const {
  std::lock_guard lock(error_mutex_);
  return retry_after_;
}

std::size_t ClientSession::copy_text(std::size_t from, std::vector<TextPiece>& out) const {
  std::lock_guard lock(text_mutex_);
  for (std::size_t i = from; i < text_.size(); ++i) {
    out.push_back(text_[i]);
  }
  return text_.size();
}

std::string ClientSession::transcript() const {
  std::lock_guard lock(text_mutex_);
  std::string out;
  for (const auto& piece : text_) {
    out += piece.text;
  }
  return out;
}

SessionTimings ClientSession::timings() const {
  SessionTimings t;
  t.connected_ms = connected_ms_.load();
  t.handshake_ms = handshake_ms_.load();
  t.first_audio_ms = first_audio_ms_.load();
  t.first_audible_ms = first_audible_ms_.load();
  t.ended_ms = ended_ms_.load();
  return t;
}

SessionCounters ClientSession::counters() const {
  SessionCounters c;
  c.pages_sent = pages_sent_.load();
  c.frames_dropped = frames_dropped_.load();
  c.frames_before_handshake = frames_before_handshake_.load();
  c.pages_received = pages_received_.load();
  c.samples_received_24k = samples_received_.load();
  c.text_pieces = static_cast<int64_t>(text_count_.load());
  c.ignored_messages = ignored_messages_.load();
  c.playout = playout_.stats();
  return c;
}

// --- sender side -------------------------------------------------------------------------------

bool ClientSession::send_page(std::span<const uint8_t> page) {
  std::vector<uint8_t> message = client_->take_buffer();
  make_audio_message(page, message);
  const auto status = client_->send_binary(std::move(message));
  if (status == net::WsSendStatus::queued) {
    return true;
  }
  if (status == net::WsSendStatus::queue_full) {
    frames_dropped_.fetch_add(1, std::memory_order_relaxed);
  }
  return false;
}

ClientSession::SendResult ClientSession::send_frame_24k(std::span<const int16_t> frame) {
  PV_ASSERT_OWNER(sender_owner_);
  const SessionState now = state();
  if (is_final(now) || now == SessionState::closing || stream_finished_) {
    return SendResult::closed;
  }
  if (!handshake_.load(std::memory_order_acquire)) {
    // The real server swallows anything sent before its handshake: send nothing at all.
    frames_before_handshake_.fetch_add(1, std::memory_order_relaxed);
    return SendResult::not_ready;
  }
  if (!headers_sent_) {
    // The BOS (OpusHead) and OpusTags pages first, each its own message; never dropped (the
    // queue is empty right after the handshake).
    headers_sent_ = true;
    const auto head = writer_.head_page();
    const auto tags = writer_.tags_page();
    if (!send_page(head) || !send_page(tags)) {
      return SendResult::closed;
    }
  }
  if (auto encoded = encoder_.encode(frame, packet_); !encoded) {
    // Only a wrong frame length gets here: a caller bug, not a network event.
    frames_dropped_.fetch_add(1, std::memory_order_relaxed);
    return SendResult::dropped;
  }
  writer_.packet_page(packet_, static_cast<int>(frame.size()), page_);
  if (send_page(page_)) {
    pages_sent_.fetch_add(1, std::memory_order_relaxed);
    return SendResult::sent;
  }
  return state() == SessionState::streaming ? SendResult::dropped : SendResult::closed;
}

void ClientSession::finish_stream() {
  PV_ASSERT_OWNER(sender_owner_);
  if (stream_finished_ || !headers_sent_ || state() != SessionState::streaming) {
    stream_finished_ = true;
    return;
  }
  stream_finished_ = true;
  const std::array<int16_t, kSendFrameSamples> silence{};
  if (auto encoded = encoder_.encode(silence, packet_); !encoded) {
    return;
  }
  writer_.packet_page(packet_, kSendFrameSamples, page_, /*end_of_stream=*/true);
  if (send_page(page_)) {
    pages_sent_.fetch_add(1, std::memory_order_relaxed);
  }
}

void ClientSession::adopt_sender() {
  sender_owner_.release();
  // Moving the codec objects hands their own ownership checks over as well.
  audio::OpusEncoder encoder = std::move(encoder_);
  encoder_ = std::move(encoder);
  audio::OggOpusWriter writer = std::move(writer_);
  writer_ = std::move(writer);
}

void ClientSession::close() {
  close_requested_.store(true, std::memory_order_release);
  SessionState current = state();
  while (!is_final(current) && current != SessionState::closing) {
    if (state_.compare_exchange_weak(current, SessionState::closing)) {
      break;
    }
  }
  client_->close(1000);
}

void ClientSession::abort() {
  close_requested_.store(true, std::memory_order_release);
  client_->cancel();
}

// --- receive side (the client's strand) --------------------------------------------------------

void ClientSession::handle_open() {
  PV_ASSERT_OWNER(receiver_owner_);
  connected_ms_.store(since_start_ms());
  SessionState expected = SessionState::connecting;
  state_.compare_exchange_strong(expected, SessionState::waiting_handshake);
  // Until the handshake only silence from the server is normal (prompt phase, or queued: no
  // pongs either), so the only liveness bound is "no message at all".
  client_->set_idle_timeout(std::chrono::milliseconds(params_.handshake_timeout_ms));
}

void ClientSession::handle_message(const net::WsMessageView& message) {
  PV_ASSERT_OWNER(receiver_owner_);
  if (ended()) {
    return;
  }
  const ParsedMessage parsed = parse_message(message.data, message.binary);
  const bool handshaken = handshake_.load(std::memory_order_relaxed);
  switch (parsed.type) {
  case ParsedMessage::Type::handshake:
    if (handshaken) {
      ignored_messages_.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    handshake_ms_.store(since_start_ms());
    handshake_.store(true, std::memory_order_release);
    {
      SessionState expected = SessionState::waiting_handshake;
      state_.compare_exchange_strong(expected, SessionState::streaming);
    }
    client_->set_idle_timeout(std::chrono::milliseconds(params_.no_audio_timeout_ms));
    log::info_event("PERSONAPLEX_HANDSHAKE_OK", {{"session", params_.label},
                                                 {"connect_ms", connected_ms_.load()},
                                                 {"handshake_ms", handshake_ms_.load()}});
    return;
  case ParsedMessage::Type::audio:
    if (!handshaken) {
      ignored_messages_.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    handle_audio(parsed.payload);
    return;
  case ParsedMessage::Type::text:
    if (!handshaken) {
      ignored_messages_.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    {
      TextPiece piece{media_now(), sanitize_utf8(parsed.payload)};
      std::lock_guard lock(text_mutex_);
      text_.push_back(std::move(piece));
      text_count_.store(text_.size(), std::memory_order_release);
    }
    return;
  case ParsedMessage::Type::ignored:
    ignored_messages_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
}

void ClientSession::handle_audio(std::span<const uint8_t> ogg) {
  pages_received_.fetch_add(1, std::memory_order_relaxed);
  auto decoded = decoder_.feed(ogg, playout_);
  if (!decoded) {
    fail(ErrorKind::decode_error,
         std::string("bad audio from the server (") + audio::to_string(decoded.error().kind) +
             "): " + decoded.error().message,
         true);
    client_->close(1007, "bad audio");
    return;
  }
  if (decoded->samples_24k == 0) {
    return; // a header page
  }
  samples_received_.fetch_add(static_cast<int64_t>(decoded->samples_24k),
                              std::memory_order_relaxed);
  const bool audible = decoded->audible;
  if (first_audio_ms_.load(std::memory_order_relaxed) < 0) {
    first_audio_ms_.store(since_start_ms());
  }
  if (audible) {
    if (first_audible_ms_.load(std::memory_order_relaxed) < 0) {
      first_audible_ms_.store(since_start_ms());
      log::info_event("PERSONAPLEX_FIRST_AUDIO",
                      {{"session", params_.label}, {"ms", first_audible_ms_.load()}});
    }
    if (audible_since_.load(std::memory_order_relaxed) < 0) {
      audible_since_.store(media_now(), std::memory_order_release);
    }
  } else {
    audible_since_.store(-1, std::memory_order_release);
  }
}

void ClientSession::fail(ErrorKind kind, std::string message, bool retryable) {
  // Only the io thread ends a session (other threads at most ask to close), so the check and the
  // state change below cannot race with another fail().
  if (is_final(state())) {
    return;
  }
  ended_ms_.store(since_start_ms());
  BackendError error = make_error(kind, std::move(message), retryable);
  log::error_event("PERSONAPLEX_FAILED", {{"session", params_.label},
                                          {"failureType", conversation::to_string(kind)},
                                          {"err", error.message},
                                          {"retryable", retryable},
                                          {"handshake", handshake_done()},
                                          {"durationMs", ended_ms_.load()}});
  {
    // The error is in place before the state says `failed`: a poller that sees the state
    // always finds the error.
    std::lock_guard lock(error_mutex_);
    error_ = std::move(error);
  }
  state_.store(SessionState::failed, std::memory_order_release);
}

void ClientSession::handle_close(const net::WsError& reason) {
  PV_ASSERT_OWNER(receiver_owner_);
  if (!close_requested_.load(std::memory_order_acquire)) {
    BackendError error = classify_connection_end(reason, connected_ms_.load() >= 0,
                                                 handshake_.load(std::memory_order_acquire));
    if (reason.kind == net::WsErrorKind::http_rejected) {
      std::lock_guard lock(error_mutex_);
      retry_after_ = reason.retry_after;
    }
    fail(error.kind, error.message, error.retryable);
  } else {
    SessionState current = state();
    while (!is_final(current)) {
      if (state_.compare_exchange_weak(current, SessionState::closed)) {
        ended_ms_.store(since_start_ms());
        break;
      }
    }
  }
  playout_.end_stream();
  const auto c = counters();
  log::event(spdlog::level::debug, "PERSONAPLEX_SESSION_END",
             {{"session", params_.label},
              {"state", to_string(state())},
              {"ws", reason.describe()},
              {"pages_sent", c.pages_sent},
              {"pages_received", c.pages_received},
              {"text_pieces", c.text_pieces},
              {"frames_dropped", c.frames_dropped},
              {"playout_dropped_samples", c.playout.dropped_samples},
              {"underruns", c.playout.underruns}});
}

} // namespace pv::personaplex
