#pragma once
// The PersonaPlex server simulator: a stand-in for `python -m moshi.server` (NVIDIA PersonaPlex)
// in tests, demos and load benchmarks. On the wire it behaves like the real server as described
// in shared/docs/personaplex-protocol.md, quirks included:
//
//  * HTTP: GET on any path but /api/chat -> 200 (a small page, like the web UI; HAProxy health
//    checks), other methods -> 405; /api/chat without a WebSocket upgrade -> 400, with a method
//    other than GET -> 405; a request line (or a header line) over 8190 bytes -> 400, like aiohttp.
//  * Upgrade on /api/chat: 101 first, then the query is validated (sim/prompt.hpp); a bad request
//    is answered by closing TCP without a WebSocket Close frame.
//  * One session at a time (FIFO, `max_sessions` for load tests): a queued client has its 101 and
//    then nothing: no handshake, no pongs (its connection is not read) until its turn.
//  * Prompt phase: (N_voice + 6 + N_text + 6) LM steps of `prompt_step_ms`, each preceded by an
//    is_alive probe that consumes and discards one client message if one arrived, plus the probe
//    before the handshake; a Close ends it; an empty text_prompt drops TCP after voice + 6 steps.
//  * Handshake 0x00, the two sphn header pages (§8.2, byte-exact), then strictly input-clocked:
//    each 1920 samples decoded from the client's Ogg/Opus stream (strict reader: CRC, BOS, ...)
//    -> one model step (`step_ms` of simulated GPU time) -> optionally a 0x02 text piece, then
//    one 0x01 page with one 80 ms Opus packet (serial 42, seq k+1, granule 1920*k). No input, no
//    output. Ogg errors, or 150 KiB without a capture pattern -> Close 1000. Client Close ->
//    the session ends and the next queued one starts.
//  * The "model" listens with a VAD and answers with flite-spoken sentences (sim/model.hpp).
//  * Fault injection (SimFaults) for client robustness tests.
//
// Threading: everything runs on one thread: the io_context the server owns (create(params)) or
// the caller's (create(io, params)), which must then be run by exactly one thread (session objects
// are ThreadOwner-checked in debug builds). Public methods are thread-safe; do not call stop()
// from that io thread. Several simulators may share one io_context.
//
// Logs: structured events SIM_LISTEN, SIM_HTTP, SIM_REJECT, SIM_CONNECT, SIM_BAD_REQUEST,
// SIM_QUEUED, SIM_PROMPT_START, SIM_PROMPT_CRASH, SIM_HANDSHAKE, SIM_REPLY, SIM_BACKCHANNEL,
// SIM_INTERRUPTED, SIM_INPUT_ERROR, SIM_FAULT, SIM_CLOSE (key session = the session index).

#include "net/tls.hpp"
#include "sim/model.hpp"
#include "sim/prompt.hpp"

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <tl/expected.hpp>

namespace boost::asio {
class io_context;
} // namespace boost::asio

namespace pv::sim {

// Faults for client robustness tests. "Frames" are model steps (80 ms of input = one output
// page); N = 0 means right after the handshake and header pages. -1 = off.
struct SimFaults {
  int session = 0;               // 0 = every session, K = only the K-th (see SimSessionReport)
  int drop_after_frames = -1;    // after N pages (all written): TCP close, no Close frame
  int stall_after_frames = -1;   // after N pages: stop reading and sending, socket stays open
  int garbage_after_frames = -1; // after N pages: one message 0x01 + 64..191 random bytes
  int bad_crc_after_frames = -1; // page N+1 goes out with a corrupted CRC (then normal pages)
  bool close_before_handshake =
      false;                     // TCP close (no Close frame) halfway through the prompt phase
  int reject_status = 0;         // answer the upgrade with this HTTP status instead of 101
  std::string retry_after = "1"; // Retry-After value sent with reject_status (empty = none)
  int slow_step_ms = 0;          // > 0: model step time of the faulted sessions (slow GPU)
};

struct SimParams {
  std::string host = "127.0.0.1"; // listen address
  uint16_t port = 8998;           // 0 = ephemeral (see port())
  net::TlsServerParams tls;       // cert + key = https/wss
  int max_sessions = 1;           // concurrent sessions (the real server: 1)
  int step_ms = 0;                // simulated GPU time per model step; 0 = as fast as input
  int prompt_step_ms = 10;        // per prompt-phase step (the real server's floor: ~10 ms)
  VoiceCatalog voices;            // shipped names + voice_dir; N_voice per voice
  bool last_connected_prompts_win = false; // emulate the shared-prompt bug (§1.5); off by default
  uint64_t seed = 42424242; // backchannel draws and garbage bytes (per session: seed + index)
  SimModelParams model;
  SimFaults faults;
  std::size_t max_early_bytes = 4u << 20; // pre-handshake bytes buffered before reading pauses
};

enum class SimErrorKind {
  invalid_params, // a parameter out of range (message names it)
  listen_failed,  // cannot bind, or TLS files unusable
  speech_failed,  // flite/Opus could not prepare the model's sentences
};

struct SimError {
  SimErrorKind kind = SimErrorKind::invalid_params;
  std::string message;
};

const char* to_string(SimErrorKind kind);

enum class SimSessionState {
  rejected,  // answered with an HTTP status (fault reject_status)
  invalid,   // 101 then TCP close: bad query (see bad_request)
  queued,    // waiting for a session slot
  prompt,    // prompt phase
  streaming, // handshake sent, model steps running
  stalled,   // fault: neither reading nor sending
  closing,   // server sent Close / is dropping
  ended,     // the connection is gone
};

const char* to_string(SimSessionState state);

// One /api/chat upgrade request. Sessions are numbered 1, 2, ... in the order the upgrade
// requests arrive (this is the K of SimFaults::session / --fault-session).
struct SimSessionReport {
  int index = 0;
  std::string remote;
  SimSessionState state = SimSessionState::queued;
  std::string bad_request; // why the query was refused (state invalid)
  std::string voice_prompt;
  int text_tokens = 0;        // -1 = empty text prompt
  int queued_behind = 0;      // sessions ahead of it when it asked for a slot
  int prompt_lm_steps = 0;    // N_voice + 6 + N_text + 6 (as planned)
  int prompt_probes = 0;      // is_alive probes run
  int swallowed_messages = 0; // client messages discarded by the probes
  bool handshake_sent = false;
  int64_t input_messages = 0;
  int64_t input_bytes = 0;
  int64_t steps = 0; // model steps = audio pages sent
  int text_pieces = 0;
  int replies = 0;
  int backchannels = 0;
  int interruptions = 0;
  int user_turns = 0;
  std::vector<std::string> reply_texts; // in order
  std::string input_error;              // the Ogg/Opus error that closed the session
  std::vector<std::string> faults;      // faults that fired
  std::string end_reason;
  bool ended = false;
};

class SimServer {
public:
  // Owns a one-thread io_context.
  static tl::expected<std::unique_ptr<SimServer>, SimError> create(const SimParams& params);
  // Runs on `io`, which the caller runs on exactly one thread and outlives the server.
  static tl::expected<std::unique_ptr<SimServer>, SimError> create(boost::asio::io_context& io,
                                                                   const SimParams& params);
  ~SimServer();
  SimServer(const SimServer&) = delete;
  SimServer& operator=(const SimServer&) = delete;

  uint16_t port() const;
  bool tls() const;
  // "ws://127.0.0.1:<port><target>" (wss:// with TLS).
  std::string url(std::string_view target = "/api/chat") const;

  // Snapshot of the session reports, by index (the most recent 10000 are kept).
  std::vector<SimSessionReport> sessions() const;
  // Waits until pred(sessions()) is true or `timeout` passes; returns the last value of pred.
  bool wait_until(const std::function<bool(const std::vector<SimSessionReport>&)>& pred,
                  std::chrono::milliseconds timeout) const;

  // Closes the listener and every connection (TCP close), cancels all timers. Idempotent.
  void stop();

  struct Impl;

private:
  explicit SimServer(std::shared_ptr<Impl> impl);
  std::shared_ptr<Impl> impl_;
};

} // namespace pv::sim
