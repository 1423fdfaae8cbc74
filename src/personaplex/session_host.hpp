#pragma once
// What both PersonaPlex backends (duplex_backend.hpp, turn_backend.hpp) keep around their
// sessions: where the sessions run (options.io, or an IoThread of the backend's own), opening a
// session with a fresh prompt, the sessions still closing, and the bounded shutdown.
//
// Threading: start() and stop() run where the backend's start()/stop() run; open(), retire() and
// sweep() on the backend's control thread (the room clock thread). open() does no I/O (the TLS
// context is built once, in start()).

#include "conversation/backend.hpp"
#include "net/tls.hpp"
#include "personaplex/chat_request.hpp"
#include "personaplex/client_session.hpp"
#include "personaplex/options.hpp"

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <tl/expected.hpp>

namespace pv::net {
class IoThread;
} // namespace pv::net

namespace pv::personaplex {

class SessionHost {
public:
  explicit SessionHost(const BackendOptions& options); // `options` outlives the host
  ~SessionHost();
  SessionHost(const SessionHost&) = delete;
  SessionHost& operator=(const SessionHost&) = delete;

  // Picks the io_context and builds the shared TLS context (reads the CA file once).
  // `media_time_ms` is the room's media clock.
  tl::expected<void, conversation::BackendError> start(std::function<int64_t()> media_time_ms);

  // Builds a request with an empty context (calls the prompt builder once): a backend that opens
  // no session at start-up fails there, not at the first session, if it cannot be built.
  tl::expected<void, conversation::BackendError> check_request() const;

  // Creates and starts a session labelled "<prefix>-<n>" (n counts every session opened).
  tl::expected<std::shared_ptr<ClientSession>, conversation::BackendError>
  open(const PromptContext& context, const std::string& prefix);

  // Ends the session's stream and closes it cleanly (unless it has ended); the host keeps it
  // until it has ended. `session` is left null.
  void retire(std::shared_ptr<ClientSession>& session);

  // Disposes of the retired sessions that have ended, handing each to on_ended(const
  // ClientSession&) first. A template: the 20 ms path calls it (no std::function).
  template <class OnEnded>
  void sweep(OnEnded&& on_ended) {
    for (auto it = retiring_.begin(); it != retiring_.end();) {
      if ((*it)->ended()) {
        on_ended(static_cast<const ClientSession&>(**it));
        ClientSession::dispose(*it);
        it = retiring_.erase(it);
      } else {
        ++it;
      }
    }
  }

  // After the room clock has stopped (any thread): finishes and closes `live` and the retired
  // sessions, waits for each (bounded by close_timeout_ms + 500 ms), hands each to on_closed,
  // then drains the io_context and stops the backend's own io thread. Idempotent.
  void stop(std::vector<std::shared_ptr<ClientSession>> live,
            const std::function<void(const ClientSession&)>& on_closed);

  // The room's media time in ms (0 before start()).
  int64_t now_ms() const { return media_time_ms_ ? media_time_ms_() : 0; }

private:
  ChatRequestParams request_params() const;

  const BackendOptions& options_;
  std::function<int64_t()> media_time_ms_;
  std::unique_ptr<net::IoThread> io_thread_;
  boost::asio::io_context* io_ = nullptr;
  net::SslContextPtr tls_context_;
  int opened_ = 0;
  std::vector<std::shared_ptr<ClientSession>> retiring_;
};

} // namespace pv::personaplex
