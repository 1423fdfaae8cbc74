#include "personaplex/duplex_backend.hpp"

#include "audio/mixer.hpp"
#include "log/log.hpp"
#include "util/text.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>

namespace pv::personaplex {

using conversation::BackendError;
using conversation::ErrorKind;

namespace {

// Retry-After as delta-seconds (the form pools use); -1 if absent or an HTTP date.
int64_t retry_after_ms(const std::string& value) {
  int64_t seconds = 0;
  const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), seconds);
  if (value.empty() || ec != std::errc{} || end != value.data() + value.size() || seconds < 0) {
    return -1;
  }
  return seconds * 1000;
}

// Linear crossfade from `from` (already in `out`) to `to` over the frame.
void crossfade(audio::Frame& out, const audio::Frame& to) {
  auto dst = out.samples();
  const auto src = to.samples();
  const std::size_t n = std::min(dst.size(), src.size());
  for (std::size_t i = 0; i < n; ++i) {
    const double w = static_cast<double>(i + 1) / static_cast<double>(n);
    dst[i] = static_cast<int16_t>(std::lround(dst[i] * (1.0 - w) + src[i] * w));
  }
}

} // namespace

DuplexBackend::DuplexBackend(BackendOptions options)
    : options_(std::move(options)), replies_(options_.turn_quiet_ms) {}

net::Backoff& DuplexBackend::backoff() {
  if (!backoff_) {
    backoff_.emplace(net::BackoffParams{std::chrono::milliseconds(options_.reconnect_min_ms),
                                        std::chrono::milliseconds(options_.reconnect_max_ms), 2.0,
                                        net::BackoffJitter::full, options_.backoff_seed});
  }
  return *backoff_;
}

DuplexBackend::~DuplexBackend() {
  stop();
}

tl::expected<void, BackendError> DuplexBackend::start(const conversation::BackendContext& context) {
  context_ = context;
  if (auto started = host_.start(context_.media_time_ms); !started) {
    return tl::unexpected(started.error());
  }
  auto resampler = audio::StreamResampler::create(
      audio::ResamplerParams{audio::kRoomRateHz, audio::kPersonaPlexRateHz, 5});
  if (!resampler) {
    return tl::unexpected(BackendError{ErrorKind::internal, resampler.error(), false, nullptr});
  }
  downsampler_24k_.emplace(std::move(*resampler));
  auto detector = RoomTurnDetector::create(options_.vad);
  if (!detector) {
    return tl::unexpected(BackendError{ErrorKind::internal, detector.error(), false, nullptr});
  }
  detector_.emplace(std::move(*detector));
  fifo_24k_.reserve(4 * kSendFrameSamples);
  text_scratch_.reserve(64);

  auto session = host_.open(PromptContext{}, "pp");
  if (!session) {
    return tl::unexpected(session.error());
  }
  active_ = std::move(*session);
  pending_stats_.sessions_opened = 1;
  publish_stats();
  return {};
}

void DuplexBackend::stop() {
  if (stopping_) {
    return;
  }
  stopping_ = true;
  std::vector<std::shared_ptr<ClientSession>> live; // (an initializer list would keep copies)
  live.push_back(std::move(active_));
  live.push_back(std::move(standby_));
  host_.stop(std::move(live), [this](const ClientSession& session) { account(session); });
  pending_stats_.active_label.clear();
  publish_stats();
}

// --- control (room clock thread) ----------------------------------------------------------------

bool DuplexBackend::open_active(bool reconnect) {
  auto session = host_.open(PromptContext{replies_.said()}, "pp");
  if (!session) {
    if (context_.observer != nullptr) {
      context_.observer->on_error(session.error());
    }
    schedule_reconnect("");
    return false;
  }
  active_ = std::move(*session);
  active_ready_ = false;
  active_sent_frames_ = 0;
  active_quiet_ms_ = 0;
  text_index_ = 0;
  ++pending_stats_.sessions_opened;
  if (reconnect) {
    ++pending_stats_.reconnects;
  }
  publish_stats();
  return true;
}

void DuplexBackend::open_standby() {
  auto session = host_.open(PromptContext{replies_.said()}, "pp");
  if (!session) {
    if (context_.observer != nullptr) {
      context_.observer->on_error(session.error());
    }
    standby_retry_at_ = Clock::now() + backoff().next();
    return;
  }
  log::info_event("PERSONAPLEX_SWAP_PREPARE", {{"from", active_->params().label},
                                               {"to", (*session)->params().label},
                                               {"age_ms", active_age_ms()},
                                               {"session_max_s", options_.session_max_s}});
  standby_ = std::move(*session);
  standby_sent_frames_ = 0;
  standby_retry_at_.reset();
  ++pending_stats_.sessions_opened;
  publish_stats();
}

void DuplexBackend::schedule_reconnect(const std::string& retry_after) {
  auto delay = backoff().next();
  if (const int64_t asked = retry_after_ms(retry_after); asked >= 0) {
    // Honour the pool's Retry-After, but never wait longer than the configured maximum.
    delay = std::max(
        delay, std::chrono::milliseconds(std::min<int64_t>(asked, options_.reconnect_max_ms)));
  }
  reconnect_at_ = Clock::now() + delay;
  log::info_event("PERSONAPLEX_RECONNECT_SCHEDULED",
                  {{"delay_ms", delay.count()}, {"attempt", backoff().attempts()}});
}

void DuplexBackend::account(const ClientSession& session) {
  const auto c = session.counters();
  retired_underruns_ += c.playout.underruns;
  retired_dropped_ += c.playout.dropped_samples;
}

void DuplexBackend::poll_sessions() {
  host_.sweep([this](const ClientSession& session) { account(session); });
  if (active_) {
    if (active_->state() == SessionState::failed) {
      on_active_failed();
    } else if (!active_ready_ && active_->handshake_done()) {
      active_ready_ = true;
      if (const auto t = active_->timings(); t.handshake_ms >= 0) {
        last_handshake_ms_ = t.handshake_ms;
      }
      backoff().reset();
      log::info_event("PERSONAPLEX_SESSION_READY",
                      {{"session", active_->params().label}, {"handshake_ms", last_handshake_ms_}});
      if (!healthy_reported_) {
        healthy_reported_ = true;
        pending_stats_.healthy = true;
        if (context_.observer != nullptr) {
          context_.observer->on_backend_health(true);
        }
      }
      publish_stats();
    }
  } else if (reconnect_at_ && Clock::now() >= *reconnect_at_) {
    reconnect_at_.reset();
    open_active(true);
  }

  if (standby_) {
    if (standby_->state() == SessionState::failed) {
      BackendError error = standby_->error().value_or(
          BackendError{ErrorKind::internal, "replacement session failed", true, nullptr});
      account(*standby_);
      ClientSession::dispose(standby_);
      standby_sent_frames_ = 0;
      standby_retry_at_ = Clock::now() + backoff().next();
      if (context_.observer != nullptr) {
        context_.observer->on_error(error); // the active session still serves: health unchanged
      }
    }
  } else if (active_ && active_ready_) {
    const int64_t max_ms = static_cast<int64_t>(options_.session_max_s) * 1000;
    // Open the replacement early enough for its prompt phase (twice the last one, plus slack).
    const int64_t lead = std::clamp<int64_t>(2 * last_handshake_ms_ + 2000, 3000, max_ms / 2);
    // Preferably at a pause, so that its prompt has the latest reply; at the latest half-way
    // through the lead.
    const int64_t age = active_age_ms();
    if (age >= max_ms - lead && (at_pause() || age >= max_ms - lead / 2) &&
        (!standby_retry_at_ || Clock::now() >= *standby_retry_at_)) {
      open_standby();
    }
  }
}

void DuplexBackend::on_active_failed() {
  BackendError error = active_->error().value_or(
      BackendError{ErrorKind::internal, "PersonaPlex session failed", true, nullptr});
  const std::string retry_after = active_->retry_after();
  account(*active_);
  ClientSession::dispose(active_);
  active_ready_ = false;
  active_sent_frames_ = 0;
  active_quiet_ms_ = 0;
  ++pending_stats_.failures;
  if (open_turn_ && open_turn_->first_played_ms < 0 && last_utterance_ &&
      last_utterance_->turn_id == open_turn_->id) {
    error.unanswered = last_utterance_; // the model never answered it: a fallback may
    open_turn_.reset();
  }
  if (context_.observer != nullptr) {
    context_.observer->on_error(error);
  }
  if (standby_) {
    // A replacement is already under way: it takes over (at once if it has its handshake).
    log::info_event("PERSONAPLEX_FAILOVER",
                    {{"to", standby_->params().label}, {"ready", standby_->handshake_done()}});
    active_ = std::move(standby_);
    active_ready_ = active_->handshake_done();
    active_sent_frames_ = standby_sent_frames_;
    standby_sent_frames_ = 0;
    text_index_ = active_->text_count();
  } else {
    schedule_reconnect(retry_after);
  }
  if (!active_ready_ && healthy_reported_) {
    healthy_reported_ = false;
    pending_stats_.healthy = false;
    if (context_.observer != nullptr) {
      context_.observer->on_backend_health(false);
    }
  }
  publish_stats();
}

bool DuplexBackend::at_pause() const {
  // The old session's output has been quiet for swap_quiet_ms, the user is not speaking, and no
  // user turn is waiting for the model's answer (the old session heard it, the new one did not).
  const bool awaiting_answer = open_turn_ && open_turn_->first_played_ms < 0;
  return active_quiet_ms_ >= options_.swap_quiet_ms && !detector_->in_segment() && !awaiting_answer;
}

void DuplexBackend::switch_to_standby(const char* how) {
  log::info_event("PERSONAPLEX_SWAP", {{"from", active_->params().label},
                                       {"to", standby_->params().label},
                                       {"how", how},
                                       {"age_ms", active_age_ms()},
                                       {"t_ms", now_ms()}});
  host_.retire(active_);
  active_ = std::move(standby_);
  active_ready_ = active_->handshake_done();
  active_sent_frames_ = standby_sent_frames_;
  standby_sent_frames_ = 0;
  active_quiet_ms_ = 0;
  // Text the new session produced while it was not being played was never heard.
  text_index_ = active_->text_count();
  pending_stats_.last_swap_media_ms = now_ms();
  if (pending_stats_.first_swap_media_ms < 0) {
    pending_stats_.first_swap_media_ms = pending_stats_.last_swap_media_ms;
  }
  publish_stats();
}

void DuplexBackend::switch_with_gap(const char* when) {
  // Either the replacement waits for its handshake (a server that serves one session at a time
  // queues it behind ours), or there is none (it failed, its retry is still in backoff): close
  // the old session and let the replacement, or a fresh session, take over after its prompt phase.
  const bool queued = standby_ != nullptr;
  log::warn_event(
      "PERSONAPLEX_SWAP_GAP",
      {{"from", active_->params().label},
       {"to", queued ? standby_->params().label : std::string()},
       {"reason", queued ? "replacement_waiting" : "no_replacement"},
       {"when", when},
       {"age_ms", active_age_ms()},
       {"message", queued ? "the replacement session is still waiting for its handshake (a server "
                            "that serves one session at a time queues it): switching with a gap; "
                            "use a pool for seamless switches"
                          : "no replacement session is ready (it failed or its retry is in "
                            "backoff): reconnecting with a gap"}});
  ++pending_stats_.gapped_swaps;
  host_.retire(active_);
  active_quiet_ms_ = 0;
  const int64_t now = now_ms();
  pending_stats_.last_swap_media_ms = now;
  if (pending_stats_.first_swap_media_ms < 0) {
    pending_stats_.first_swap_media_ms = now;
  }
  if (queued) {
    active_ = std::move(standby_);
    active_ready_ = false;
    active_sent_frames_ = 0;
    text_index_ = 0;
    publish_stats();
  } else {
    standby_retry_at_.reset();
    open_active(false); // publishes the stats; a failure schedules a reconnect
  }
}

// --- the 20 ms path (room clock thread) ---------------------------------------------------------

void DuplexBackend::on_room_frame(const audio::Frame& inbound_48k) {
  PV_ASSERT_OWNER(clock_owner_);
  if (stopping_) {
    return;
  }
  const int64_t now = now_ms();
  poll_sessions();

  downsampler_24k_->process(inbound_48k.samples(), fifo_24k_);
  while (fifo_24k_.size() - fifo_head_ >= static_cast<std::size_t>(kSendFrameSamples)) {
    const std::span<const int16_t> frame(fifo_24k_.data() + fifo_head_, kSendFrameSamples);
    if (active_) {
      const auto sent = active_->send_frame_24k(frame);
      if (sent == ClientSession::SendResult::sent || sent == ClientSession::SendResult::dropped) {
        ++active_sent_frames_;
      }
    }
    if (standby_ && standby_->handshake_done()) {
      const auto sent = standby_->send_frame_24k(frame);
      if (sent == ClientSession::SendResult::sent || sent == ClientSession::SendResult::dropped) {
        ++standby_sent_frames_;
      }
    }
    fifo_head_ += kSendFrameSamples;
  }
  if (fifo_head_ > 0) { // keep the remainder at the front (no allocation)
    const std::size_t rest = fifo_24k_.size() - fifo_head_;
    std::memmove(fifo_24k_.data(), fifo_24k_.data() + fifo_head_, rest * sizeof(int16_t));
    fifo_24k_.resize(rest);
    fifo_head_ = 0;
  }

  detector_->process(inbound_48k, now,
                     [&](const audio::SegmenterEvent& event) { handle_vad_event(event, now); });
}

void DuplexBackend::fill_agent_frame(audio::Frame& outbound_48k) {
  PV_ASSERT_OWNER(clock_owner_);
  if (stopping_) {
    return;
  }
  const int64_t now = now_ms();
  const double threshold = options_.audible_threshold_dbfs;
  if (active_) {
    active_->playout().pull(outbound_48k.samples());
  }
  const bool old_audible = audio::rms_dbfs(outbound_48k.samples()) > threshold;
  active_quiet_ms_ = old_audible ? 0 : active_quiet_ms_ + audio::kFrameMs;

  const int64_t max_ms = static_cast<int64_t>(options_.session_max_s) * 1000;
  const int64_t hard_ms = max_ms + int64_t{options_.swap_force_after_s} * 1000;
  if (standby_ && standby_->handshake_done()) {
    // Keep the replacement's playout flowing at the same depth, so that switching is seamless.
    standby_frame_.clear_to_silence();
    standby_->playout().pull(standby_frame_.samples());
    const bool new_audible = audio::rms_dbfs(standby_frame_.samples()) > threshold;
    const bool warm = standby_->playout().stats().played_samples > 0;
    if (warm && active_ && active_ready_) {
      if (at_pause() && !new_audible) {
        ++pending_stats_.swaps;
        switch_to_standby("silence");
      } else if (active_age_ms() >= hard_ms) {
        crossfade(outbound_48k, standby_frame_);
        ++pending_stats_.swaps;
        ++pending_stats_.crossfades;
        switch_to_standby("crossfade");
      }
    }
  } else if (active_ && active_ready_ && active_age_ms() >= max_ms &&
             (at_pause() || active_age_ms() >= hard_ms)) {
    // No replacement ready to take over seamlessly: past the horizon, hand over with a gap
    // rather than let the old session run on past the model's context window.
    switch_with_gap(at_pause() ? "pause" : "hard_limit");
  }

  const bool audible = audio::rms_dbfs(outbound_48k.samples()) > threshold;
  take_text(now);
  track_turn(audible, now);
  replies_.on_output(audible, now);
  last_output_audible_ = audible;
  if (!allowed_.load(std::memory_order_relaxed)) {
    outbound_48k.clear_to_silence();
  }
  idle_.store(!open_turn_.has_value() && !replies_.speaking());
  if ((now / audio::kFrameMs) % 25 == 0) {
    publish_stats();
  }
}

void DuplexBackend::take_text(int64_t now) {
  (void)now;
  if (!active_ || active_->text_count() == text_index_) {
    return;
  }
  text_scratch_.clear();
  text_index_ = active_->copy_text(text_index_, text_scratch_);
  for (const auto& piece : text_scratch_) {
    replies_.on_text(piece.text);
    if (open_turn_ && piece.media_ms >= open_turn_->speech_end_ms) {
      open_turn_->text += piece.text;
    }
  }
}

void DuplexBackend::handle_vad_event(const audio::SegmenterEvent& event, int64_t now) {
  using Kind = audio::SegmenterEvent::Kind;
  auto* observer = context_.observer;
  switch (event.kind) {
  case Kind::speech_start:
    if (observer != nullptr) {
      observer->on_user_speech_start(event.speech_start_ms);
    }
    if (open_turn_) {
      complete_turn(last_output_audible_); // the next user turn starts
    }
    return;
  case Kind::end_of_turn: {
    if (open_turn_) {
      complete_turn(last_output_audible_);
    }
    if (!active_ready_) {
      return; // no session to answer it: the agent's fallback (health false) has the room
    }
    const uint64_t id = ++next_turn_id_;
    auto utterance = std::make_shared<conversation::UserUtterance>();
    utterance->turn_id = id;
    utterance->pcm.sample_rate = audio::kSpeechRateHz;
    utterance->pcm.samples.assign(event.segment.begin(), event.segment.end());
    utterance->speech_end_media_ms = event.speech_end_ms;
    last_utterance_ = std::move(utterance);
    open_turn_ = OpenTurn{id, event.speech_end_ms, now, -1, -1, {}};
    if (observer != nullptr) {
      observer->on_user_turn_end(id, event.speech_end_ms);
    }
    return;
  }
  case Kind::discarded:
  case Kind::none:
    return;
  }
}

void DuplexBackend::track_turn(bool audible, int64_t now) {
  if (!open_turn_) {
    return;
  }
  OpenTurn& turn = *open_turn_;
  if (turn.first_audible_arrival_ms < 0 && active_) {
    const int64_t since = active_->audible_since_ms();
    if (since >= turn.speech_end_ms) {
      turn.first_audible_arrival_ms = since;
    }
  }
  if (audible && turn.first_played_ms < 0) {
    turn.first_played_ms = now;
  }
  if (turn.first_played_ms >= 0 && !audible &&
      now - replies_.last_audible_ms() >= options_.turn_quiet_ms) {
    complete_turn(false);
  } else if (turn.first_played_ms < 0 && now - turn.decided_ms >= options_.turn_timeout_ms) {
    complete_turn(false); // the model did not answer
  }
}

void DuplexBackend::complete_turn(bool interrupted) {
  OpenTurn turn = std::move(*open_turn_);
  open_turn_.reset();
  conversation::TurnReport report;
  report.turn_id = turn.id;
  report.agent_text = std::string(util::trim(turn.text));
  report.interrupted = interrupted;
  report.latency_parts_ms.emplace_back("vad_wait",
                                       static_cast<double>(turn.decided_ms - turn.speech_end_ms));
  if (turn.first_audible_arrival_ms >= 0) {
    report.latency_parts_ms.emplace_back(
        "server_first_audio",
        static_cast<double>(std::max<int64_t>(0, turn.first_audible_arrival_ms - turn.decided_ms)));
  }
  if (context_.observer != nullptr) {
    context_.observer->on_turn_complete(std::move(report));
  }
}

void DuplexBackend::publish_stats() {
  pending_stats_.active_label = active_ ? active_->params().label : std::string();
  int64_t underruns = retired_underruns_;
  int64_t dropped = retired_dropped_;
  for (const auto* s : {&active_, &standby_}) {
    if (*s) {
      const auto p = (*s)->playout().stats();
      underruns += p.underruns;
      dropped += p.dropped_samples;
    }
  }
  pending_stats_.underruns = underruns;
  pending_stats_.dropped_samples = dropped;
  std::lock_guard lock(stats_mutex_);
  stats_ = pending_stats_;
}

DuplexStats DuplexBackend::stats() const {
  std::lock_guard lock(stats_mutex_);
  return stats_;
}

} // namespace pv::personaplex
