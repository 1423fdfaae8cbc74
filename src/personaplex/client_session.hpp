#pragma once
// One PersonaPlex session: one WebSocket connection to /api/chat (protocol Appendix A).
//
//  1. start(): TCP (+ TLS, verified by default: system CAs + PERSONAPLEX_CA_FILE) + upgrade, all
//     bounded by connect_timeout_ms. No permessage-deflate, no ping-based liveness.
//  2. Wait for the 0x00 handshake (handshake_timeout_ms: prompt phase, or queued behind another
//     session; a queued client gets no pongs, so only "no message" counts). NOTHING is sent
//     before it: the real server silently swallows early messages (the Ogg BOS included).
//  3. Send: each send_frame_24k() (20 ms at 24 kHz) is Opus-encoded and wrapped in its own Ogg
//     page (standard_client_framing: BOS/OpusHead and OpusTags pages first), sent at once as
//     0x01 + page from a pooled buffer (non-blocking post). The caller sends in real time,
//     silence included: the server is input-clocked.
//  4. Receive: 0x01 pages go through the strict Ogg reader and the Opus decoder (24 kHz), a
//     streaming 24k -> 48k resampler (state kept across packets) and into a bounded playout
//     buffer (drop oldest, drops/underruns counted). 0x02 text pieces are kept with the media time
//     they arrived. Other kinds, empty messages and text frames are ignored.
//  5. finish_stream(): a last page flagged EOS; close(): WebSocket Close after the queued
//     messages (bounded by close_timeout_ms); abort(): TCP close at once.
//
// Failures are typed (conversation::ErrorKind), logged once (PERSONAPLEX_FAILED, with the cause)
// and kept in error(); the owner polls state() and reports it (it decides about reconnects):
//   connect_refused (nothing listening, DNS, or no connection within connect_timeout_ms),
//   tls_error, http_rejected (e.g. 429/503 from a pool; Retry-After kept),
//   closed_before_handshake (how the server reports bad parameters: TCP close after the 101),
//   handshake_timeout, server_closed, decode_error (bad Ogg/Opus or WebSocket framing from the
//   server), send_error, no_audio (no server message for no_audio_timeout_ms after the
//   handshake while we keep sending: a stalled server).
//
// Threading:
//  * Network side: the WebSocket client's strand on the caller's io_context. That io_context must
//    be run by ONE thread (the receive-side Ogg reader, decoder and resampler are single-owner
//    objects checked in debug builds); many sessions may share it (no global state).
//  * Sender side: send_frame_24k() belongs to one thread (e.g. the room clock thread;
//    util::ThreadOwner, bound on first use). It never blocks: encode (~0.1 ms) + post.
//  * Everything else is thread-safe: state, counters and timings are atomics; the playout
//    buffer and the text log have their own short mutexes (never held across I/O).
// Lifetime: destroy a session before its io_context stops. Destroying it cancels the connection;
// the destructor may wait for a receive handler that is running at that moment (dispose() hands
// the destruction to the io thread so a real-time thread never waits).

#include "audio/ogg_opus.hpp"
#include "audio/opus_codec.hpp"
#include "audio/playout_buffer.hpp"
#include "conversation/backend.hpp"
#include "net/headers.hpp"
#include "net/tls.hpp"
#include "personaplex/server_audio.hpp"
#include "util/thread_owner.hpp"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <tl/expected.hpp>

namespace boost::asio {
class io_context;
} // namespace boost::asio

namespace pv::net {
class WsClient;
struct WsError;
struct WsMessageView;
} // namespace pv::net

namespace pv::personaplex {

inline constexpr int kSendFrameSamples = 480; // 20 ms at 24 kHz

enum class SessionState : int {
  created,
  connecting,        // TCP / TLS / upgrade
  waiting_handshake, // upgraded; the server runs its prompt phase (or queues us)
  streaming,         // handshake received: audio flows both ways
  closing,           // close() asked
  closed,            // ended normally (close()/abort())
  failed,            // ended with error()
};

const char* to_string(SessionState state);

// How a connection that ended without close()/abort() is reported, given how far it got
// (`opened`: the 101 arrived; `handshake`: the 0x00 arrived).
conversation::BackendError classify_connection_end(const net::WsError& end, bool opened,
                                                   bool handshake);

struct SessionParams {
  std::string url;                // ws(s)://host:port/api/chat?text_prompt=...&voice_prompt=...
  net::Headers headers;           // e.g. X-Session-Key
  net::TlsClientParams tls;       // wss: verify (default on), extra CA file
  net::SslContextPtr tls_context; // optional: a shared client context (else built from `tls`)
  int connect_timeout_ms = 10000;
  int handshake_timeout_ms = 300000;
  int no_audio_timeout_ms = 5000;
  int close_timeout_ms = 3000;
  int playout_max_ms = 220;       // playout depth bound (older audio is dropped)
  int playout_prebuffer_ms = 120; // held back before a stream starts playing
  int opus_complexity = 5;
  std::size_t max_queued_bytes = 64 * 1024; // send back-pressure bound (~10 s of 20 ms pages)
  double audible_threshold_dbfs = -50.0;    // received audio above this level is "audible"
  // Stamps text pieces and audible arrivals (thread-safe); null = ms since start().
  std::function<int64_t()> media_time_ms;
  std::string label = "personaplex"; // the `session` field of log events
};

// Milliseconds since start(); -1 = not (yet) reached.
struct SessionTimings {
  int64_t connected_ms = -1;     // 101 received
  int64_t handshake_ms = -1;     // 0x00 received
  int64_t first_audio_ms = -1;   // first decoded server audio
  int64_t first_audible_ms = -1; // first audible decoded server audio
  int64_t ended_ms = -1;
};

struct SessionCounters {
  int64_t pages_sent = 0;              // audio pages queued for sending (header pages not counted)
  int64_t frames_dropped = 0;          // send queue full (the server is not reading)
  int64_t frames_before_handshake = 0; // send_frame_24k() calls refused before the handshake
  int64_t pages_received = 0;          // server audio messages (header pages included)
  int64_t samples_received_24k = 0;
  int64_t text_pieces = 0;
  int64_t ignored_messages = 0; // other kinds, empty, text frames, anything before the handshake
  audio::PlayoutStats playout;
};

struct TextPiece {
  int64_t media_ms = 0; // when it arrived
  std::string text;     // valid UTF-8
};

class ClientSession {
public:
  // Validates parameters and builds the codecs (no I/O). Errors: config (bad URL, unusable CA
  // file -> tls_error) or internal (codec set-up).
  static tl::expected<std::shared_ptr<ClientSession>, conversation::BackendError>
  create(boost::asio::io_context& io, SessionParams params);

  ~ClientSession();
  ClientSession(const ClientSession&) = delete;
  ClientSession& operator=(const ClientSession&) = delete;

  // Starts connecting (once).
  void start();

  enum class SendResult {
    sent,
    not_ready, // no handshake yet: nothing was sent
    dropped,   // the send queue is full (counted)
    closed,    // closing, closed or failed
  };
  // Sender thread: one 20 ms frame (kSendFrameSamples at 24 kHz).
  SendResult send_frame_24k(std::span<const int16_t> frame);

  // Sender thread: ends our Ogg stream with a final (silent, 20 ms) page flagged EOS, so that
  // the stream is complete for any Ogg tool; later sends return `closed`. Call before close()
  // when the session streamed. Does nothing before the handshake or after a failure.
  void finish_stream();
  // Makes the calling thread the sender (the previous sender thread must be done for good, e.g.
  // the room clock has stopped and stop() finishes the stream).
  void adopt_sender();

  // Graceful Close (idempotent; before the upgrade it acts as abort()). Any thread. Messages
  // already queued (the EOS page) are sent first.
  void close();
  // TCP close at once. Any thread.
  void abort();

  SessionState state() const { return state_.load(std::memory_order_acquire); }
  bool handshake_done() const { return handshake_.load(std::memory_order_acquire); }
  bool ended() const;
  std::optional<conversation::BackendError> error() const;
  std::string retry_after() const; // http_rejected: the Retry-After value ("" if none)

  // The model's audio at 48 kHz. The consumer (room clock thread) pulls from it.
  audio::PlayoutBuffer& playout() { return playout_; }

  // Media time the current run of audible received audio started; -1 if the latest decoded
  // audio was quiet (or none yet).
  int64_t audible_since_ms() const { return audible_since_.load(std::memory_order_acquire); }

  // Text pieces received so far.
  std::size_t text_count() const { return text_count_.load(std::memory_order_acquire); }
  // Appends pieces [from, text_count()) to `out`; returns the new count.
  std::size_t copy_text(std::size_t from, std::vector<TextPiece>& out) const;
  std::string transcript() const;

  SessionTimings timings() const;
  SessionCounters counters() const;
  const SessionParams& params() const { return params_; }

  // Destroys the session on its io thread (never blocks the caller). `session` is reset.
  static void dispose(std::shared_ptr<ClientSession>& session);
  // Waits (bounded) until every handler posted to `io` so far, disposals included, has run: call
  // before stopping the io_context, so that no session is destroyed with it.
  static bool drain(boost::asio::io_context& io, std::chrono::milliseconds timeout);

private:
  ClientSession(boost::asio::io_context& io, SessionParams params, audio::OpusEncoder encoder,
                audio::OggOpusWriter writer, ServerAudioDecoder decoder);

  void handle_open();
  void handle_message(const net::WsMessageView& message);
  void handle_close(const net::WsError& reason);
  void handle_audio(std::span<const uint8_t> ogg);
  void fail(conversation::ErrorKind kind, std::string message, bool retryable);
  int64_t since_start_ms() const;
  int64_t media_now() const;
  bool send_page(std::span<const uint8_t> page);

  boost::asio::io_context& io_;
  const SessionParams params_;
  std::unique_ptr<net::WsClient> client_;
  std::chrono::steady_clock::time_point started_at_{};

  std::atomic<SessionState> state_{SessionState::created};
  std::atomic<bool> handshake_{false};
  std::atomic<bool> close_requested_{false};
  std::atomic<bool> started_{false};

  // Sender side (one thread).
  util::ThreadOwner sender_owner_;
  audio::OpusEncoder encoder_;
  audio::OggOpusWriter writer_;
  bool headers_sent_ = false;
  bool stream_finished_ = false;
  std::vector<uint8_t> packet_;
  std::vector<uint8_t> page_;

  // Receive side (the io thread).
  util::ThreadOwner receiver_owner_;
  ServerAudioDecoder decoder_;

  audio::PlayoutBuffer playout_;
  std::atomic<int64_t> audible_since_{-1};

  std::atomic<int64_t> connected_ms_{-1};
  std::atomic<int64_t> handshake_ms_{-1};
  std::atomic<int64_t> first_audio_ms_{-1};
  std::atomic<int64_t> first_audible_ms_{-1};
  std::atomic<int64_t> ended_ms_{-1};

  std::atomic<int64_t> pages_sent_{0};
  std::atomic<int64_t> frames_dropped_{0};
  std::atomic<int64_t> frames_before_handshake_{0};
  std::atomic<int64_t> pages_received_{0};
  std::atomic<int64_t> samples_received_{0};
  std::atomic<int64_t> ignored_messages_{0};

  mutable std::mutex text_mutex_; // guards text_ (short; never held across I/O)
  std::vector<TextPiece> text_;
  std::atomic<std::size_t> text_count_{0};

  mutable std::mutex error_mutex_; // guards error_, retry_after_
  std::optional<conversation::BackendError> error_;
  std::string retry_after_;
};

} // namespace pv::personaplex
