#include "sim/sim_server.hpp"

#include "log/log.hpp"
#include "net/io_thread.hpp"
#include "net/ws_server.hpp"
#include "sim/session.hpp"

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <future>
#include <thread>

#include <boost/asio/post.hpp>

namespace pv::sim {

namespace {

constexpr std::size_t kAiohttpMaxLine = 8190;            // max_line_size / max_field_size
constexpr std::size_t kMaxRequestHeaderBytes = 64 << 10; // whole header, before our own checks
constexpr std::size_t kMaxMessageBytes = 4u << 20;       // aiohttp's max_msg_size
constexpr std::size_t kMaxQueuedBytes = 64u << 20;       // per connection, to a client not reading
constexpr int kCloseTimeoutMs = 10000;                   // aiohttp's close timeout
constexpr int kHandshakeTimeoutMs = 60000;
constexpr std::string_view kChatPath = "/api/chat";

const char* kIndexPage = "<!doctype html>\n<html><head><title>PersonaPlex simulator</title></head>"
                         "<body><p>podium-voices PersonaPlex server simulator. WebSocket endpoint: "
                         "<code>/api/chat?text_prompt=...&amp;voice_prompt=NATF0.pt</code></p>"
                         "</body></html>\n";

net::WsUpgradeDecision text_response(int status, std::string body,
                                     std::string content_type = "text/plain; charset=utf-8") {
  return net::WsUpgradeDecision::reject(status, {{"Content-Type", std::move(content_type)}},
                                        std::move(body));
}

std::optional<std::string> check_params(const SimParams& p) {
  if (p.max_sessions < 1) {
    return "max_sessions must be at least 1";
  }
  if (p.step_ms < 0 || p.prompt_step_ms < 0) {
    return "step_ms and prompt_step_ms must not be negative";
  }
  if (p.voices.default_frames < 0) {
    return "voice frames must not be negative";
  }
  for (const auto& [name, frames] : p.voices.frames_by_name) {
    if (frames < 0) {
      return "voice frames for " + name + " must not be negative";
    }
  }
  if (!p.voices.voice_dir.empty()) {
    std::error_code ec;
    if (!std::filesystem::is_directory(p.voices.voice_dir, ec)) {
      return "voice directory '" + p.voices.voice_dir + "' does not exist";
    }
  }
  const SimFaults& f = p.faults;
  if (f.session < 0) {
    return "fault session must be 0 (all) or a session number";
  }
  if (f.reject_status != 0 && (f.reject_status < 200 || f.reject_status > 599)) {
    return "reject status must be an HTTP status in 200..599";
  }
  if (f.slow_step_ms < 0) {
    return "slow step time must not be negative";
  }
  if (p.max_early_bytes == 0) {
    return "max_early_bytes must be positive";
  }
  return std::nullopt;
}

} // namespace

const char* to_string(SimErrorKind kind) {
  switch (kind) {
  case SimErrorKind::invalid_params:
    return "invalid_params";
  case SimErrorKind::listen_failed:
    return "listen_failed";
  case SimErrorKind::speech_failed:
    return "speech_failed";
  }
  return "unknown";
}

const char* to_string(SimSessionState state) {
  switch (state) {
  case SimSessionState::rejected:
    return "rejected";
  case SimSessionState::invalid:
    return "invalid";
  case SimSessionState::queued:
    return "queued";
  case SimSessionState::prompt:
    return "prompt";
  case SimSessionState::streaming:
    return "streaming";
  case SimSessionState::stalled:
    return "stalled";
  case SimSessionState::closing:
    return "closing";
  case SimSessionState::ended:
    return "ended";
  }
  return "unknown";
}

struct SimServer::Impl {
  std::unique_ptr<net::IoThread> own_io; // declared first: destroyed last
  std::shared_ptr<ServerCore> core;
  std::unique_ptr<net::WsServer> ws;
  std::atomic<bool> stopped{false};
};

namespace {

// HTTP routing of every request (runs on the io thread, before any 101).
net::WsUpgradeDecision route(ServerCore& core, const net::WsUpgradeRequest& request) {
  PV_ASSERT_OWNER(core.owner);
  // aiohttp refuses a request line or a header line longer than 8190 bytes with 400.
  const std::size_t line = request.method.size() + 1 + request.target.size() + 1 + 8;
  if (line > kAiohttpMaxLine) {
    log::info_event("SIM_HTTP",
                    {{"status", 400}, {"reason", "request line too long"}, {"bytes", line}});
    return text_response(400, "400, message:\n  Got more than 8190 bytes (" + std::to_string(line) +
                                  ") when reading Status line is too long.");
  }
  for (const auto& header : request.headers) {
    if (header.name.size() + 2 + header.value.size() > kAiohttpMaxLine) {
      log::info_event("SIM_HTTP", {{"status", 400}, {"reason", "header line too long"}});
      return text_response(400, "400, message:\n  Got more than 8190 bytes when reading Header "
                                "value is too long.");
    }
  }
  const std::string_view path = request.path();
  if (path != kChatPath) {
    if (request.method != "GET" && request.method != "HEAD") {
      return text_response(405, "405: Method Not Allowed");
    }
    log::event(spdlog::level::debug, "SIM_HTTP",
               {{"status", 200}, {"path", std::string(path.substr(0, 100))}});
    return text_response(200, request.method == "HEAD" ? std::string() : std::string(kIndexPage),
                         "text/html; charset=utf-8");
  }
  if (request.method != "GET") {
    return text_response(405, "405: Method Not Allowed");
  }
  if (!request.websocket_upgrade) {
    log::info_event(
        "SIM_HTTP",
        {{"status", 400}, {"path", std::string(kChatPath)}, {"reason", "not a WebSocket upgrade"}});
    return text_response(400, "No WebSocket UPGRADE hdr: " +
                                  std::string(request.header("Upgrade").value_or("None")) +
                                  "\n Can \"Upgrade\" only to \"WebSocket\".");
  }
  const int index = ++core.upgrades;
  const SimFaults& faults = core.params.faults;
  if (core.fault_applies(index) && faults.reject_status != 0) {
    net::Headers headers{{"Content-Type", "text/plain; charset=utf-8"}};
    if (!faults.retry_after.empty()) {
      headers.push_back({"Retry-After", faults.retry_after});
    }
    log::warn_event("SIM_REJECT", {{"session", index}, {"status", faults.reject_status}});
    core.update_report(index, [&](SimSessionReport& r) {
      r.remote = request.remote_address;
      r.state = SimSessionState::rejected;
      r.faults.push_back("reject " + std::to_string(faults.reject_status));
      r.ended = true;
      r.end_reason = "rejected with HTTP " + std::to_string(faults.reject_status);
    });
    return net::WsUpgradeDecision::reject(faults.reject_status, std::move(headers),
                                          "simulated rejection\n");
  }
  core.pending_index[request.remote_address] = index;
  net::WsUpgradeDecision accept = net::WsUpgradeDecision::accept();
  accept.start_reading = false; // a queued client is not read (no pongs) until its turn
  return accept;
}

net::WsServerHandlers make_handlers(const std::shared_ptr<ServerCore>& shared_core) {
  std::weak_ptr<ServerCore> weak = shared_core;
  net::WsServerHandlers handlers;
  handlers.on_upgrade = [weak](const net::WsUpgradeRequest& request) {
    auto core = weak.lock();
    return core ? route(*core, request) : net::WsUpgradeDecision::reject(503);
  };
  handlers.on_open = [weak](const net::WsConnectionPtr& connection) {
    auto core = weak.lock();
    if (!core || core->stopping) {
      connection->drop();
      return;
    }
    PV_ASSERT_OWNER(core->owner);
    int index = 0;
    if (auto it = core->pending_index.find(connection->request().remote_address);
        it != core->pending_index.end()) {
      index = it->second;
      core->pending_index.erase(it);
    } else {
      index = ++core->upgrades;
    }
    auto session = std::make_shared<SimSession>(core, connection, index);
    core->sessions[connection->id()] = session;
    session->open();
  };
  handlers.on_message = [weak](const net::WsConnectionPtr& connection,
                               const net::WsMessageView& message) {
    auto core = weak.lock();
    if (!core) {
      return;
    }
    PV_ASSERT_OWNER(core->owner);
    if (auto it = core->sessions.find(connection->id()); it != core->sessions.end()) {
      auto session = it->second; // on_message may end the session
      session->on_message(message);
    }
  };
  handlers.on_close = [weak](const net::WsConnectionPtr& connection, const net::WsError& reason) {
    auto core = weak.lock();
    if (!core) {
      return;
    }
    PV_ASSERT_OWNER(core->owner);
    core->pending_index.erase(connection->request().remote_address);
    if (auto it = core->sessions.find(connection->id()); it != core->sessions.end()) {
      auto session = it->second;
      session->on_closed(reason);
    }
  };
  return handlers;
}

} // namespace

tl::expected<std::unique_ptr<SimServer>, SimError> SimServer::create(const SimParams& params) {
  auto io = std::make_unique<net::IoThread>("pv-sim", 1);
  auto server = create(io->context(), params);
  if (!server) {
    return server;
  }
  (*server)->impl_->own_io = std::move(io);
  return server;
}

tl::expected<std::unique_ptr<SimServer>, SimError> SimServer::create(boost::asio::io_context& io,
                                                                     const SimParams& params) {
  if (auto problem = check_params(params)) {
    return tl::unexpected(SimError{SimErrorKind::invalid_params, *problem});
  }
  SpeechBankParams speech;
  speech.replies = params.model.fixed_reply.empty()
                       ? params.model.replies
                       : std::vector<std::string>{params.model.fixed_reply};
  speech.backchannel = params.model.backchannel;
  speech.tts_voice = params.model.tts_voice;
  auto bank = SpeechBank::create(speech);
  if (!bank) {
    return tl::unexpected(SimError{SimErrorKind::speech_failed, bank.error()});
  }
  // Checks the model parameters once, here, rather than at every handshake.
  if (auto probe = SimModel::create(params.model, *bank, params.seed); !probe) {
    return tl::unexpected(SimError{SimErrorKind::invalid_params, probe.error()});
  }

  auto impl = std::make_shared<Impl>();
  impl->core = std::make_shared<ServerCore>(io, params, std::move(*bank));
  net::WsServerParams ws_params;
  ws_params.address = params.host;
  ws_params.port = params.port;
  ws_params.tls = params.tls;
  ws_params.handshake_timeout_ms = kHandshakeTimeoutMs;
  ws_params.close_timeout_ms = kCloseTimeoutMs;
  ws_params.max_message_bytes = kMaxMessageBytes;
  ws_params.max_queued_bytes = kMaxQueuedBytes;
  ws_params.max_request_header_bytes = kMaxRequestHeaderBytes;
  auto ws = net::WsServer::create(io, ws_params, make_handlers(impl->core));
  if (!ws) {
    return tl::unexpected(SimError{SimErrorKind::listen_failed, ws.error().message});
  }
  impl->ws = std::move(*ws);
  log::info_event("SIM_LISTEN", {{"url", impl->ws->url(kChatPath)},
                                 {"max_sessions", params.max_sessions},
                                 {"step_ms", params.step_ms},
                                 {"prompt_step_ms", params.prompt_step_ms}});
  return std::unique_ptr<SimServer>(new SimServer(std::move(impl)));
}

SimServer::SimServer(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}

SimServer::~SimServer() {
  stop();
}

uint16_t SimServer::port() const {
  return impl_->ws->port();
}

bool SimServer::tls() const {
  return impl_->ws->tls();
}

std::string SimServer::url(std::string_view target) const {
  return impl_->ws->url(target);
}

std::vector<SimSessionReport> SimServer::sessions() const {
  return impl_->core->reports();
}

bool SimServer::wait_until(const std::function<bool(const std::vector<SimSessionReport>&)>& pred,
                           std::chrono::milliseconds timeout) const {
  return impl_->core->wait_reports(pred, timeout);
}

void SimServer::stop() {
  if (impl_->stopped.exchange(true)) {
    return;
  }
  impl_->ws->stop(); // no WebSocket handler runs after this; every connection is cancelled
  // Cancel the sessions' timers on the io thread. The waits are bounded in case the caller's
  // io_context is no longer running (then everything dies with it).
  using Connections = std::vector<std::weak_ptr<net::WsServerConnection>>;
  auto done = std::make_shared<std::promise<Connections>>();
  auto open = done->get_future();
  boost::asio::post(impl_->core->io,
                    [core = impl_->core, done] { done->set_value(core->shutdown()); });
  if (open.wait_for(std::chrono::seconds(5)) == std::future_status::ready) {
    // Each cancellation runs on its connection's strand, possibly behind other queued work: let
    // them all run (each releases its connection) before the io thread stops, so every client
    // sees its TCP connection end.
    const Connections connections = open.get();
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
    const auto all_closed = [&] {
      return std::all_of(connections.begin(), connections.end(),
                         [](const auto& weak) { return weak.expired(); });
    };
    while (!all_closed() && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    // Connections that never reached on_open (the 101 was on its way when stop() closed the
    // handler gate) are unknown here: a few round trips through the io thread let their
    // cancellations (queued on their strands before these posts) run too.
    for (int round = 0; round < 8; ++round) {
      auto barrier = std::make_shared<std::promise<void>>();
      auto passed = barrier->get_future();
      boost::asio::post(impl_->core->io, [barrier] { barrier->set_value(); });
      if (passed.wait_until(deadline) != std::future_status::ready) {
        break;
      }
    }
  }
  if (impl_->own_io) {
    impl_->own_io->stop();
  }
}

} // namespace pv::sim
