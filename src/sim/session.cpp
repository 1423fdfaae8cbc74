#include "sim/session.hpp"

#include "log/log.hpp"

#include <algorithm>

namespace pv::sim {

namespace {

constexpr int kDropFlushPollMs = 2;
constexpr int kDropFlushMaxPolls = 1000; // give the last pages ~2 s to reach the socket
constexpr uint8_t kKindHandshake = 0x00;
constexpr uint8_t kKindAudio = 0x01;
constexpr uint8_t kKindText = 0x02;

std::span<const uint8_t> as_bytes(std::string_view text) {
  return {reinterpret_cast<const uint8_t*>(text.data()), text.size()};
}

} // namespace

// --- ServerCore --------------------------------------------------------------------------------

void ServerCore::request_slot(const std::shared_ptr<SimSession>& session) {
  PV_ASSERT_OWNER(owner);
  if (active < params.max_sessions && waiting.empty()) {
    if (session->begin()) {
      ++active;
    }
    return;
  }
  waiting.push_back(session);
  session->queued(static_cast<int>(waiting.size()) - 1 + active);
}

void ServerCore::release_slot() {
  PV_ASSERT_OWNER(owner);
  active = std::max(0, active - 1);
  while (!stopping && active < params.max_sessions && !waiting.empty()) {
    auto next = waiting.front().lock();
    waiting.pop_front();
    // A client that left while queued is skipped here or, if its Close is still unread, ends
    // during its first prompt step (the real server's is_alive does the same).
    if (next && next->begin()) {
      ++active;
    }
  }
}

std::vector<std::weak_ptr<net::WsServerConnection>> ServerCore::shutdown() {
  PV_ASSERT_OWNER(owner);
  stopping = true;
  waiting.clear();
  auto all = std::move(sessions);
  sessions.clear();
  std::vector<std::weak_ptr<net::WsServerConnection>> open;
  for (auto& [id, session] : all) {
    open.push_back(session->connection());
    session->shutdown();
  }
  return open;
}

SimSessionReport& ServerCore::report_locked(int index) {
  constexpr std::size_t kMaxReports = 10000;
  auto [it, inserted] = reports_.try_emplace(index);
  if (inserted) {
    it->second.index = index;
    while (reports_.size() > kMaxReports) {
      reports_.erase(reports_.begin()); // the oldest
    }
  }
  return it->second;
}

std::vector<SimSessionReport> ServerCore::reports() const {
  std::lock_guard lock(report_mutex_);
  std::vector<SimSessionReport> out;
  out.reserve(reports_.size());
  for (const auto& [index, report] : reports_) {
    out.push_back(report);
  }
  return out;
}

bool ServerCore::wait_reports(const std::function<bool(const std::vector<SimSessionReport>&)>& pred,
                              std::chrono::milliseconds timeout) const {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::unique_lock lock(report_mutex_);
  for (;;) {
    std::vector<SimSessionReport> snapshot;
    snapshot.reserve(reports_.size());
    for (const auto& [index, report] : reports_) {
      snapshot.push_back(report);
    }
    if (pred(snapshot)) {
      return true;
    }
    if (report_cv_.wait_until(lock, deadline) == std::cv_status::timeout) {
      std::vector<SimSessionReport> last;
      for (const auto& [index, report] : reports_) {
        last.push_back(report);
      }
      return pred(last);
    }
  }
}

// --- SimSession --------------------------------------------------------------------------------

SimSession::SimSession(std::shared_ptr<ServerCore> core, net::WsConnectionPtr connection, int index)
    : core_(std::move(core)), connection_(std::move(connection)), index_(index),
      faulted_(core_->fault_applies(index)), timer_(core_->io),
      rng_(core_->params.seed + static_cast<uint64_t>(index)) {
  const SimFaults& faults = core_->params.faults;
  step_ms_ = faulted_ && faults.slow_step_ms > 0 ? faults.slow_step_ms : core_->params.step_ms;
}

void SimSession::set_state(SimSessionState state) {
  state_ = state;
  core_->update_report(index_, [state](SimSessionReport& r) { r.state = state; });
}

void SimSession::note_fault(const std::string& what) {
  log::warn_event("SIM_FAULT", {{"session", index_}, {"fault", what}, {"steps", steps_}});
  core_->update_report(index_, [&](SimSessionReport& r) { r.faults.push_back(what); });
}

void SimSession::open() {
  PV_ASSERT_OWNER(core_->owner);
  const net::WsUpgradeRequest& http = connection_->request();
  const QueryParams query = QueryParams::parse(http.query());
  auto parsed = parse_chat_request(query, core_->params.voices);
  core_->update_report(index_, [&](SimSessionReport& r) { r.remote = http.remote_address; });
  const std::string voice = parsed ? parsed->voice_prompt : parsed.error().voice_prompt;
  if (!voice.empty() && voice != core_->loaded_voice) {
    // The real handler records the voice, then loads it (before looking at text_prompt/seed).
    core_->loaded_voice = voice;
    if (voice_prompt_corrupt(voice, core_->params.voices)) {
      parsed = tl::unexpected(ChatRequestError{
          ChatRejectKind::corrupt_voice, "cannot load voice prompt '" + voice + "'", {}, voice});
    }
  }
  const SharedPromptWrite& write = parsed ? parsed->write : parsed.error().write;
  if (core_->params.last_connected_prompts_win) {
    // The real handler writes into the shared LM state before validating the rest (§1.5).
    if (write.voice_frames) {
      core_->shared_prompt.voice_frames = write.voice_frames;
    }
    if (write.text_tokens) {
      core_->shared_prompt.text_tokens = write.text_tokens;
    }
  }
  if (!parsed) {
    log::warn_event("SIM_BAD_REQUEST", {{"session", index_},
                                        {"reason", to_string(parsed.error().kind)},
                                        {"error", parsed.error().message},
                                        {"action", "TCP close without a Close frame"}});
    const std::string reason = to_string(parsed.error().kind);
    core_->update_report(index_, [&](SimSessionReport& r) {
      r.bad_request = reason;
      r.state = SimSessionState::invalid;
    });
    state_ = SimSessionState::invalid;
    connection_->drop();
    return;
  }
  request_ = std::move(*parsed);
  log::info_event("SIM_CONNECT", {{"session", index_},
                                  {"remote", http.remote_address},
                                  {"voice_prompt", request_.voice_prompt},
                                  {"voice_frames", request_.voice_frames},
                                  {"text_tokens", request_.text_tokens}});
  core_->update_report(index_, [&](SimSessionReport& r) {
    r.voice_prompt = request_.voice_prompt;
    r.text_tokens = request_.text_tokens;
  });
  core_->request_slot(shared_from_this());
}

void SimSession::queued(int behind) {
  PV_ASSERT_OWNER(core_->owner);
  log::info_event("SIM_QUEUED", {{"session", index_}, {"behind", behind}});
  core_->update_report(index_, [behind](SimSessionReport& r) { r.queued_behind = behind; });
  set_state(SimSessionState::queued);
}

bool SimSession::begin() {
  PV_ASSERT_OWNER(core_->owner);
  if (state_ != SimSessionState::queued) {
    return false; // gone (or never valid)
  }
  holds_slot_ = true;
  connection_->set_reading(true);
  int voice_frames = request_.voice_frames;
  int text_tokens = request_.text_tokens;
  if (core_->params.last_connected_prompts_win) {
    voice_frames = core_->shared_prompt.voice_frames.value_or(voice_frames);
    text_tokens = core_->shared_prompt.text_tokens.value_or(text_tokens);
  }
  plan_ = plan_prompt_phase(voice_frames, text_tokens);
  if (faulted_ && core_->params.faults.close_before_handshake) {
    close_fault_probe_ = std::max(1, plan_.probes() / 2);
  }
  prompt_started_ = std::chrono::steady_clock::now();
  log::info_event("SIM_PROMPT_START",
                  {{"session", index_},
                   {"lm_steps", plan_.lm_steps()},
                   {"probes", plan_.probes()},
                   {"voice_steps", plan_.voice_steps},
                   {"text_steps", plan_.text_steps},
                   {"expected_ms", plan_.probes() * core_->params.prompt_step_ms}});
  core_->update_report(index_, [&](SimSessionReport& r) { r.prompt_lm_steps = plan_.lm_steps(); });
  set_state(SimSessionState::prompt);
  arm_timer(core_->params.prompt_step_ms, &SimSession::probe);
  return true;
}

void SimSession::arm_timer(int ms, void (SimSession::*then)()) {
  timer_armed_ = true;
  const uint64_t generation = ++timer_generation_;
  timer_.expires_after(std::chrono::milliseconds(ms));
  timer_.async_wait(
      [self = shared_from_this(), then, generation](const boost::system::error_code& ec) {
        if (ec || generation != self->timer_generation_) {
          return; // cancelled or superseded
        }
        self->timer_armed_ = false;
        ((*self).*then)();
      });
}

void SimSession::cancel_timer() {
  ++timer_generation_;
  timer_armed_ = false;
  timer_.cancel();
}

// One is_alive probe (and the LM step after it). The step's time has just passed; a message that
// arrived during it is consumed, as the real probe's 10 ms receive() would.
void SimSession::probe() {
  PV_ASSERT_OWNER(core_->owner);
  if (state_ != SimSessionState::prompt) {
    return;
  }
  if (!early_.empty()) {
    early_bytes_ -= early_.front().bytes.size();
    early_.pop_front();
    ++swallowed_;
  }
  ++probes_done_;
  core_->update_report(index_, [&](SimSessionReport& r) {
    r.prompt_probes = probes_done_;
    r.swallowed_messages = swallowed_;
  });
  if (probes_done_ == plan_.crash_after_probes()) {
    log::warn_event("SIM_PROMPT_CRASH",
                    {{"session", index_},
                     {"error", "TypeError: 'NoneType' object is not iterable (empty text_prompt)"},
                     {"probes", probes_done_},
                     {"action", "TCP close without a Close frame"}});
    core_->update_report(index_, [](SimSessionReport& r) { r.end_reason = "empty text_prompt"; });
    drop_now();
    return;
  }
  if (probes_done_ == close_fault_probe_) {
    note_fault("close_before_handshake");
    drop_now();
    return;
  }
  if (probes_done_ < plan_.probes()) {
    arm_timer(core_->params.prompt_step_ms, &SimSession::probe);
    return;
  }
  handshake();
}

void SimSession::handshake() {
  audio::OggOpusReaderParams reader_params;
  reader_params.decode_rate_hz = kModelRateHz;
  reader_.emplace(reader_params);
  writer_.emplace(audio::sphn_server_framing());
  const uint64_t seed = core_->params.seed + static_cast<uint64_t>(index_);
  auto model = SimModel::create(core_->params.model, core_->bank, seed);
  if (!model) {
    // Cannot happen with validated parameters; end like a server-side failure.
    log::error_event("SIM_INPUT_ERROR", {{"session", index_}, {"error", model.error()}});
    drop_now();
    return;
  }
  model_.emplace(std::move(*model));
  pcm_.reserve(8 * kModelFrameSamples);

  const uint8_t handshake_byte = kKindHandshake;
  message_.assign(1, handshake_byte);
  if (connection_->send_binary(std::span<const uint8_t>(message_)) != net::WsSendStatus::queued) {
    return; // the connection is going: on_closed follows
  }
  const std::vector<uint8_t> head = writer_->head_page();
  const std::vector<uint8_t> tags = writer_->tags_page();
  send(kKindAudio, head);
  send(kKindAudio, tags);
  const auto prompt_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                             std::chrono::steady_clock::now() - prompt_started_)
                             .count();
  log::info_event("SIM_HANDSHAKE", {{"session", index_},
                                    {"probes", probes_done_},
                                    {"swallowed_messages", swallowed_},
                                    {"prompt_ms", prompt_ms},
                                    {"step_ms", step_ms_}});
  core_->update_report(index_, [](SimSessionReport& r) { r.handshake_sent = true; });
  set_state(SimSessionState::streaming);
  if (reading_paused_) {
    reading_paused_ = false;
    connection_->set_reading(true);
  }
  after_frames(0);
  // Messages that outlived the probes are the start of the stream (the real recv_loop reads them
  // from the same queue).
  while (!early_.empty() && state_ == SimSessionState::streaming) {
    EarlyMessage message = std::move(early_.front());
    early_.pop_front();
    early_bytes_ -= message.bytes.size();
    handle_message(message.binary, message.bytes);
  }
}

void SimSession::on_message(const net::WsMessageView& message) {
  PV_ASSERT_OWNER(core_->owner);
  ++input_messages_;
  input_bytes_ += static_cast<int64_t>(message.data.size());
  if ((input_messages_ & 63) == 1) {
    core_->update_report(index_, [&](SimSessionReport& r) {
      r.input_messages = input_messages_;
      r.input_bytes = input_bytes_;
    });
  }
  switch (state_) {
  case SimSessionState::queued:
  case SimSessionState::prompt:
    early_.push_back({message.binary, {message.data.begin(), message.data.end()}});
    early_bytes_ += message.data.size();
    if (!reading_paused_ && early_bytes_ > core_->params.max_early_bytes) {
      reading_paused_ = true; // like a full receive buffer: stop reading until the handshake
      connection_->set_reading(false);
    }
    return;
  case SimSessionState::streaming:
    handle_message(message.binary, message.data);
    return;
  default:
    return; // stalled, closing, ended: ignored
  }
}

void SimSession::handle_message(bool binary, std::span<const uint8_t> data) {
  // The real recv_loop: text frames, empty messages and kinds other than audio are logged and
  // ignored.
  if (!binary || data.empty() || data[0] != kKindAudio) {
    log::event(spdlog::level::debug, "SIM_IGNORED_MESSAGE",
               {{"session", index_},
                {"binary", binary},
                {"bytes", data.size()},
                {"kind", data.empty() ? -1 : static_cast<int>(data[0])}});
    return;
  }
  if (input_failed_) {
    return; // the stream already failed: the session is closing
  }
  auto fed = reader_->feed(data.subspan(1), pcm_);
  if (!fed) {
    input_failed_ = true;
    log::warn_event("SIM_INPUT_ERROR", {{"session", index_},
                                        {"kind", audio::to_string(fed.error().kind)},
                                        {"error", fed.error().message},
                                        {"action", "Close 1000"}});
    const std::string error = fed.error().message;
    core_->update_report(index_, [&](SimSessionReport& r) { r.input_error = error; });
  }
  pump();
}

// Runs the model on every whole 80 ms frame of decoded input (the real opus_loop), as fast as
// the input allows, or one per step_ms when a GPU speed is simulated. Remainders wait.
void SimSession::pump() {
  while (state_ == SimSessionState::streaming && available() >= kModelFrameSamples) {
    if (step_ms_ > 0) {
      if (!timer_armed_) {
        arm_timer(step_ms_, &SimSession::on_step_timer);
      }
      return;
    }
    do_step();
  }
  if (pcm_head_ > 0 && pcm_head_ * 2 >= pcm_.size()) {
    pcm_.erase(pcm_.begin(), pcm_.begin() + static_cast<std::ptrdiff_t>(pcm_head_));
    pcm_head_ = 0;
  }
  if (state_ == SimSessionState::streaming && input_failed_ && !timer_armed_) {
    close_for_input_error();
  }
}

void SimSession::on_step_timer() {
  if (state_ != SimSessionState::streaming || available() < kModelFrameSamples) {
    return;
  }
  do_step();
  pump();
}

void SimSession::do_step() {
  const auto input = std::span<const int16_t>(pcm_).subspan(pcm_head_, kModelFrameSamples);
  pcm_head_ += kModelFrameSamples;
  const ModelStep step = model_->step(input);
  ++steps_;

  if (!step.text.empty()) {
    send(kKindText, as_bytes(step.text));
  }
  writer_->packet_page(step.packet, kModelFrameSamples, page_);
  const SimFaults& faults = core_->params.faults;
  if (faulted_ && faults.bad_crc_after_frames >= 0 && steps_ == faults.bad_crc_after_frames + 1) {
    page_[22] ^= 0xFF; // first CRC byte (offset 22..25)
    note_fault("bad_crc page " + std::to_string(steps_));
  }
  send(kKindAudio, page_);

  if (step.interrupted != nullptr) {
    log::info_event("SIM_INTERRUPTED",
                    {{"session", index_}, {"step", steps_}, {"reply", step.interrupted->text}});
  }
  if (step.backchannel_started != nullptr) {
    log::info_event(
        "SIM_BACKCHANNEL",
        {{"session", index_}, {"step", steps_}, {"text", step.backchannel_started->text}});
  }
  if (step.reply_started != nullptr) {
    log::info_event("SIM_REPLY",
                    {{"session", index_},
                     {"step", steps_},
                     {"text", step.reply_started->text},
                     {"audio_ms", step.reply_started->samples() * 1000 / kModelRateHz}});
  }
  const ModelStats& stats = model_->stats();
  core_->update_report(index_, [&](SimSessionReport& r) {
    r.steps = steps_;
    r.text_pieces = stats.text_pieces;
    r.replies = stats.replies;
    r.backchannels = stats.backchannels;
    r.interruptions = stats.interruptions;
    r.user_turns = stats.user_turns;
    r.input_messages = input_messages_;
    r.input_bytes = input_bytes_;
    if (step.reply_started != nullptr) {
      r.reply_texts.push_back(step.reply_started->text);
    }
  });
  if (steps_ % 125 == 0) {
    log::event(spdlog::level::debug, "SIM_STEPS",
               {{"session", index_}, {"steps", steps_}, {"backlog_samples", available()}});
  }
  after_frames(steps_);
}

// Faults that fire after N frames (N = 0: right after the header pages).
void SimSession::after_frames(int64_t frames) {
  if (!faulted_ || state_ != SimSessionState::streaming) {
    return;
  }
  const SimFaults& faults = core_->params.faults;
  if (faults.garbage_after_frames == frames) {
    std::vector<uint8_t> garbage(64 + static_cast<std::size_t>(rng_() % 128));
    for (auto& byte : garbage) {
      byte = static_cast<uint8_t>(rng_());
    }
    // Never a capture pattern by accident: the message must be garbage, not an Ogg page.
    garbage[0] = 0xA5;
    send(kKindAudio, garbage);
    note_fault("garbage (" + std::to_string(garbage.size()) + " bytes)");
  }
  if (faults.stall_after_frames == frames) {
    note_fault("stall");
    set_state(SimSessionState::stalled);
    connection_->set_reading(false);
    cancel_timer();
    return;
  }
  if (faults.drop_after_frames == frames) {
    note_fault("drop");
    set_state(SimSessionState::closing);
    cancel_timer();
    drop_wait_polls_ = 0;
    drop_when_flushed();
  }
}

// Drops TCP once everything sent so far has reached the socket (so the client sees exactly the
// pages before the fault), or after ~2 s if the client does not read.
void SimSession::drop_when_flushed() {
  if (state_ == SimSessionState::ended) {
    return;
  }
  if (connection_->queue_depth().messages == 0 || drop_wait_polls_ >= kDropFlushMaxPolls) {
    drop_now();
    return;
  }
  ++drop_wait_polls_;
  arm_timer(kDropFlushPollMs, &SimSession::drop_when_flushed);
}

void SimSession::drop_now() {
  if (state_ != SimSessionState::ended) {
    set_state(SimSessionState::closing);
  }
  cancel_timer();
  connection_->drop();
}

void SimSession::close_for_input_error() {
  log::info_event("SIM_CLOSE", {{"session", index_},
                                {"by", "server"},
                                {"code", 1000},
                                {"reason", "input stream error"},
                                {"steps", steps_}});
  set_state(SimSessionState::closing);
  connection_->close(1000);
}

bool SimSession::send(uint8_t kind, std::span<const uint8_t> payload) {
  message_.resize(1 + payload.size());
  message_[0] = kind;
  std::copy(payload.begin(), payload.end(), message_.begin() + 1);
  const net::WsSendStatus status = connection_->send_binary(std::span<const uint8_t>(message_));
  if (status == net::WsSendStatus::queue_full) {
    // The client stopped reading for so long that the bounded send queue filled up.
    log::warn_event("SIM_CLOSE", {{"session", index_},
                                  {"by", "server"},
                                  {"reason", "send queue full: the client does not read"}});
    drop_now();
    return false;
  }
  return status == net::WsSendStatus::queued;
}

void SimSession::on_closed(const net::WsError& reason) {
  PV_ASSERT_OWNER(core_->owner);
  if (state_ == SimSessionState::ended) {
    return;
  }
  const bool was_valid = state_ != SimSessionState::invalid;
  state_ = SimSessionState::ended;
  cancel_timer();
  const std::string why = reason.describe();
  if (was_valid) {
    log::info_event("SIM_CLOSE", {{"session", index_},
                                  {"steps", steps_},
                                  {"handshake_sent", writer_.has_value()},
                                  {"reason", why}});
  }
  core_->update_report(index_, [&](SimSessionReport& r) {
    r.state = SimSessionState::ended;
    r.ended = true;
    r.steps = steps_;
    r.input_messages = input_messages_;
    r.input_bytes = input_bytes_;
    if (r.end_reason.empty()) {
      r.end_reason = why;
    }
  });
  // Release the decoder and model memory now (the connection object may live a little longer).
  reader_.reset();
  model_.reset();
  std::vector<int16_t>().swap(pcm_);
  early_.clear();
  const bool held = holds_slot_;
  holds_slot_ = false;
  auto keep = shared_from_this(); // forget() drops the map's reference
  core_->forget(connection_->id());
  if (held) {
    core_->release_slot();
  }
}

void SimSession::shutdown() {
  state_ = SimSessionState::ended;
  holds_slot_ = false;
  cancel_timer();
}

} // namespace pv::sim
