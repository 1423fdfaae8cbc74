#include "personaplex/session_host.hpp"

#include "log/log.hpp"
#include "net/io_thread.hpp"
#include "net/url.hpp"

#include <chrono>
#include <thread>

namespace pv::personaplex {

using conversation::BackendError;
using conversation::ErrorKind;

SessionHost::SessionHost(const BackendOptions& options) : options_(options) {}

SessionHost::~SessionHost() = default;

ChatRequestParams SessionHost::request_params() const {
  ChatRequestParams params;
  params.endpoint = options_.endpoint;
  params.voice_file = options_.voice_file;
  params.seed = options_.seed;
  params.prompt = options_.prompt;
  params.prompt_variable = options_.prompt_variable;
  return params;
}

tl::expected<void, BackendError> SessionHost::start(std::function<int64_t()> media_time_ms) {
  media_time_ms_ = std::move(media_time_ms);
  if (options_.io != nullptr) {
    io_ = options_.io;
  } else {
    io_thread_ = std::make_unique<net::IoThread>("pv-personaplex", 1);
    io_ = &io_thread_->context();
  }

  auto url = net::parse_url(options_.endpoint);
  if (!url) {
    return tl::unexpected(BackendError{ErrorKind::config, url.error().message, false, nullptr});
  }
  if (url->tls()) {
    if (!options_.tls.verify) {
      log::warn_event("PERSONAPLEX_TLS_INSECURE",
                      {{"message", "PERSONAPLEX_SSL_INSECURE=true: the PersonaPlex server's "
                                   "certificate and host name are NOT verified"}});
    }
    auto context = net::make_client_tls_context(options_.tls);
    if (!context) {
      return tl::unexpected(
          BackendError{ErrorKind::tls_error, context.error().message, false, nullptr});
    }
    tls_context_ = std::move(*context);
  }
  return {};
}

tl::expected<void, BackendError> SessionHost::check_request() const {
  if (auto request = build_chat_request(request_params(), {}); !request) {
    return tl::unexpected(BackendError{ErrorKind::config, request.error().message, false, nullptr});
  }
  return {};
}

tl::expected<std::shared_ptr<ClientSession>, BackendError>
SessionHost::open(const PromptContext& context, const std::string& prefix) {
  auto request = build_chat_request(request_params(), context);
  if (!request) {
    return tl::unexpected(BackendError{ErrorKind::config, request.error().message, false, nullptr});
  }
  SessionParams params;
  params.url = request->url;
  params.headers = options_.headers;
  params.tls = options_.tls;
  params.tls_context = tls_context_;
  params.connect_timeout_ms = options_.connect_timeout_ms;
  params.handshake_timeout_ms = options_.handshake_timeout_ms;
  params.no_audio_timeout_ms = options_.no_audio_timeout_ms;
  params.close_timeout_ms = options_.close_timeout_ms;
  params.playout_prebuffer_ms = options_.jitter_ms;
  params.playout_max_ms = playout_max_ms(options_.jitter_ms);
  params.opus_complexity = options_.opus_complexity;
  params.audible_threshold_dbfs = options_.audible_threshold_dbfs;
  params.media_time_ms = media_time_ms_;
  params.label = prefix + "-" + std::to_string(++opened_);
  auto session = ClientSession::create(*io_, std::move(params));
  if (!session) {
    return tl::unexpected(session.error());
  }
  log::info_event("PERSONAPLEX_SESSION_OPEN", {{"session", (*session)->params().label},
                                               {"endpoint", options_.endpoint},
                                               {"voicePrompt", options_.voice_file},
                                               {"textPromptLength", request->text_prompt.size()},
                                               {"contextLines", context.agent_said.size()},
                                               {"contextDropped", request->context_dropped},
                                               {"requestLineBytes", request->request_line_bytes}});
  (*session)->start();
  return session;
}

void SessionHost::retire(std::shared_ptr<ClientSession>& session) {
  if (!session) {
    return;
  }
  if (!session->ended()) {
    session->finish_stream();
    session->close();
  }
  retiring_.push_back(std::move(session));
}

void SessionHost::stop(std::vector<std::shared_ptr<ClientSession>> live,
                       const std::function<void(const ClientSession&)>& on_closed) {
  std::vector<std::shared_ptr<ClientSession>> all = std::move(retiring_);
  retiring_.clear();
  for (auto& session : live) {
    if (session) {
      all.push_back(std::move(session));
    }
  }
  for (auto& session : all) {
    // The room clock has stopped: this thread finishes the streams (EOS page), then closes.
    session->adopt_sender();
    session->finish_stream();
    session->close();
  }
  // Clean Closes, bounded: the close handshake has its own timeout in the WebSocket client.
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::milliseconds(options_.close_timeout_ms + 500);
  for (auto& session : all) {
    while (!session->ended() && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    if (on_closed) {
      on_closed(*session);
    }
  }
  all.clear(); // the io thread still runs: destruction detaches the handlers safely
  if (io_ != nullptr) {
    ClientSession::drain(*io_, std::chrono::seconds(2)); // earlier disposals run first
  }
  if (io_thread_) {
    io_thread_->stop();
    io_thread_.reset();
  }
  io_ = nullptr;
}

} // namespace pv::personaplex
