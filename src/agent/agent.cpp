#include "agent/agent.hpp"

#include "audio/mixer.hpp"
#include "log/log.hpp"

#include <algorithm>
#include <numeric>

namespace pv::agent {

using conversation::BackendError;
using conversation::TurnReport;

Agent::Agent(const AgentParams& params, room::Room& room, room::Timeline& timeline,
             conversation::ConversationBackend& primary,
             conversation::ConversationBackend* fallback)
    : params_(params), room_(room), timeline_(timeline), primary_(primary), fallback_(fallback),
      speaking_(params.speaking) {}

tl::expected<void, std::string> Agent::run(const std::atomic<bool>& stop) {
  conversation::BackendContext context;
  context.observer = this;
  context.media_time_ms = [this] {
    return room_.media_time_ms();
  };
  if (auto started = primary_.start(context); !started) {
    return tl::make_unexpected(std::string(primary_.name()) + " backend failed to start (" +
                               conversation::to_string(started.error().kind) +
                               "): " + started.error().message);
  }
  if (fallback_ != nullptr) {
    if (auto started = fallback_->start(context); !started) {
      primary_.stop();
      return tl::make_unexpected(std::string(fallback_->name()) +
                                 " fallback failed to start: " + started.error().message);
    }
  }
  log::info_event("AGENT_STARTED", {{"room", std::string(room_.kind())},
                                    {"backend", std::string(primary_.name())},
                                    {"fallback", fallback_ ? std::string(fallback_->name()) : ""}});
  auto result = room_.run(*this, stop);
  primary_.stop();
  if (fallback_ != nullptr) {
    fallback_->stop();
  }
  if (speaking_.speaking()) {
    room_.set_speaking(false);
  }
  if (!result) {
    return tl::make_unexpected(result.error().message);
  }
  return {};
}

void Agent::on_audio_tick(const audio::Frame& inbound, audio::Frame& outbound) {
  PV_ASSERT_OWNER(clock_thread_);
  primary_.on_room_frame(inbound);
  primary_.fill_agent_frame(outbound);
  if (fallback_ != nullptr) {
    if (fallback_active_.load(std::memory_order_relaxed)) {
      fallback_->on_room_frame(inbound);
    }
    fallback_out_.clear_to_silence();
    fallback_->fill_agent_frame(fallback_out_);
    audio::mix_into(outbound.samples(), fallback_out_.samples());
  }
  if (!speaking_allowed_) {
    outbound.clear_to_silence();
  }

  switch (speaking_.update(outbound)) {
  case SpeakingDetector::Change::started:
    room_.set_speaking(true);
    break;
  case SpeakingDetector::Change::stopped:
    room_.set_speaking(false);
    break;
  case SpeakingDetector::Change::none:
    break;
  }
  if (speaking_.last_frame_audible() && awaiting_.load(std::memory_order_relaxed)) {
    std::lock_guard lock(mutex_);
    if (auto it = pending_.find(awaiting_first_audio_); it != pending_.end()) {
      it->second.first_audio_ms = room_.media_time_ms();
    }
    // Turns queued behind it (answered in order) wait for the next reply's audio.
    await_next_turn_locked();
  }
}

void Agent::on_room_event(const room::RoomEvent& event) {
  PV_ASSERT_OWNER(clock_thread_);
  using K = room::RoomEvent::Kind;
  switch (event.kind) {
  case K::time_is_up:
    speaking_allowed_ = false;
    primary_.set_speaking_allowed(false);
    if (fallback_ != nullptr) {
      fallback_->set_speaking_allowed(false);
    }
    log::info_event("SPEAKING_FORCE_MUTE", {{"reason", "time_is_up"}});
    break;
  case K::speaking_allowed:
    speaking_allowed_ = true;
    primary_.set_speaking_allowed(true);
    if (fallback_ != nullptr) {
      fallback_->set_speaking_allowed(true);
    }
    log::info_event("SPEAKING_ALLOWED", {});
    break;
  case K::reaction: {
    conversation::AudienceReaction reaction{event.detail, event.value > 0 ? event.value : 1.0,
                                            event.participant, event.media_ms};
    primary_.on_reaction(reaction);
    if (fallback_ != nullptr) {
      fallback_->on_reaction(reaction);
    }
    break;
  }
  case K::remaining_time:
  case K::participant_joined:
  case K::participant_left:
    break;
  }
}

bool Agent::can_finish() {
  PV_ASSERT_OWNER(clock_thread_);
  if (speaking_.speaking() || !primary_.idle() || (fallback_ != nullptr && !fallback_->idle())) {
    return false;
  }
  std::lock_guard lock(mutex_);
  return pending_.empty();
}

void Agent::on_user_speech_start(int64_t media_ms) {
  log::event(spdlog::level::debug, "VAD_SPEECH_STARTED", {{"t_ms", media_ms}});
}

void Agent::on_user_turn_end(uint64_t turn_id, int64_t speech_end_media_ms) {
  {
    std::lock_guard lock(mutex_);
    pending_[turn_id] = PendingTurn{speech_end_media_ms, -1};
    awaiting_order_.push_back(turn_id);
    if (awaiting_first_audio_ == 0 || pending_.count(awaiting_first_audio_) == 0) {
      awaiting_first_audio_ = turn_id;
    }
    awaiting_.store(true);
  }
  timeline_.add_event(room_.media_time_ms(), "user_turn_end",
                      {{"turn_id", turn_id}, {"speech_end_ms", speech_end_media_ms}});
  log::info_event("VAD_END_OF_TURN",
                  {{"turn_id", turn_id}, {"speech_end_ms", speech_end_media_ms}});
}

void Agent::on_barge_in(uint64_t turn_id, int64_t media_ms, double stop_latency_ms) {
  timeline_.add_event(media_ms, room::Timeline::kBargeIn,
                      {{"turn_id", turn_id}, {"stop_latency_ms", stop_latency_ms}});
  log::info_event("BARGE_IN", {{"turn_id", turn_id}, {"stop_latency_ms", stop_latency_ms}});
}

void Agent::on_turn_complete(TurnReport report) {
  room::TimelineTurn turn;
  turn.turn_id = report.turn_id;
  turn.user_text = report.user_text;
  turn.agent_text = report.agent_text;
  turn.interrupted = report.interrupted;
  {
    std::lock_guard lock(mutex_);
    if (auto it = pending_.find(report.turn_id); it != pending_.end()) {
      turn.user_speech_end_ms = it->second.speech_end_ms;
      turn.first_agent_audio_ms = it->second.first_audio_ms;
      pending_.erase(it);
    }
    forget_awaiting_locked(report.turn_id);
  }
  if (turn.user_speech_end_ms >= 0 && turn.first_agent_audio_ms >= 0) {
    const double total = static_cast<double>(turn.first_agent_audio_ms - turn.user_speech_end_ms);
    turn.latency_ms.emplace_back("total", total);
    double parts = 0;
    for (const auto& part : report.latency_parts_ms) {
      turn.latency_ms.push_back(part);
      parts += part.second;
    }
    // What the backend cannot account for: waiting in buffers and for the next clock tick.
    if (!report.latency_parts_ms.empty()) {
      turn.latency_ms.emplace_back("queue", std::max(0.0, total - parts));
    }
  } else {
    turn.latency_ms = report.latency_parts_ms;
  }

  nlohmann::json metrics = {{"turn_id", turn.turn_id}, {"interrupted", turn.interrupted}};
  for (const auto& [name, ms] : turn.latency_ms) {
    metrics[name + "_ms"] = ms;
  }
  log::info_event("TURN_METRICS", metrics);
  nlohmann::json user = {{"turn_id", turn.turn_id}, {"textLength", turn.user_text.size()}};
  nlohmann::json reply = {{"turn_id", turn.turn_id}, {"textLength", turn.agent_text.size()}};
  if (params_.log_transcript_text) {
    user["text"] = turn.user_text;
    reply["text"] = turn.agent_text;
  }
  log::info_event("USER_TRANSCRIPT", user);
  log::info_event("AGENT_REPLY", reply);
  timeline_.add_turn(std::move(turn));
}

void Agent::on_error(const BackendError& error) {
  errors_.fetch_add(1);
  const char* kind = conversation::to_string(error.kind);
  timeline_.add_event(room_.media_time_ms(), room::Timeline::kError,
                      {{"kind", kind}, {"message", error.message}, {"retryable", error.retryable}});
  log::error_event("BACKEND_ERROR",
                   {{"kind", kind}, {"message", error.message}, {"retryable", error.retryable}});
  if (error.unanswered) {
    {
      std::lock_guard lock(mutex_);
      pending_.erase(error.unanswered->turn_id);
      forget_awaiting_locked(error.unanswered->turn_id);
    }
    if (fallback_ != nullptr && fallback_->take_over_turn(error.unanswered)) {
      log::info_event("PERSONAPLEX_FALLBACK_TO_LLM",
                      {{"turn_id", error.unanswered->turn_id}, {"cause", kind}});
    }
  }
}

void Agent::forget_awaiting_locked(uint64_t turn_id) {
  awaiting_order_.erase(std::remove(awaiting_order_.begin(), awaiting_order_.end(), turn_id),
                        awaiting_order_.end());
  if (awaiting_first_audio_ == turn_id) {
    await_next_turn_locked();
  }
}

void Agent::await_next_turn_locked() {
  awaiting_first_audio_ = 0;
  for (const uint64_t id : awaiting_order_) {
    if (auto it = pending_.find(id); it != pending_.end() && it->second.first_audio_ms < 0) {
      awaiting_first_audio_ = id;
      break;
    }
  }
  awaiting_.store(awaiting_first_audio_ != 0);
}

void Agent::on_backend_health(bool healthy) {
  if (fallback_ == nullptr) {
    return;
  }
  const bool was = fallback_active_.exchange(!healthy);
  if (was != !healthy) {
    log::info_event(healthy ? "FALLBACK_DEACTIVATED" : "FALLBACK_ACTIVATED",
                    {{"primary", std::string(primary_.name())}});
    timeline_.add_event(room_.media_time_ms(), healthy ? "fallback_off" : "fallback_on");
  }
}

} // namespace pv::agent
