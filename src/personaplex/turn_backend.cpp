#include "personaplex/turn_backend.hpp"

#include "audio/mixer.hpp"
#include "log/log.hpp"
#include "util/text.hpp"

#include <algorithm>

namespace pv::personaplex {

using conversation::BackendError;
using conversation::ErrorKind;

TurnBackend::TurnBackend(BackendOptions options)
    : options_(std::move(options)), replies_(options_.turn_quiet_ms) {}

TurnBackend::~TurnBackend() {
  stop();
}

tl::expected<void, BackendError> TurnBackend::start(const conversation::BackendContext& context) {
  context_ = context;
  if (auto started = host_.start(context_.media_time_ms); !started) {
    return tl::unexpected(started.error());
  }
  if (auto checked = host_.check_request(); !checked) {
    return tl::unexpected(checked.error());
  }
  auto upsampler = audio::StreamResampler::create(
      audio::ResamplerParams{audio::kSpeechRateHz, audio::kPersonaPlexRateHz, 5});
  if (!upsampler) {
    return tl::unexpected(BackendError{ErrorKind::internal, upsampler.error(), false, nullptr});
  }
  upsampler_.emplace(std::move(*upsampler));
  auto detector = RoomTurnDetector::create(options_.vad);
  if (!detector) {
    return tl::unexpected(BackendError{ErrorKind::internal, detector.error(), false, nullptr});
  }
  detector_.emplace(std::move(*detector));
  fifo_24k_.reserve(4 * kSendFrameSamples);
  text_scratch_.reserve(64);
  return {};
}

void TurnBackend::stop() {
  if (stopping_) {
    return;
  }
  stopping_ = true;
  std::vector<std::shared_ptr<ClientSession>> live;
  if (current_) {
    live.push_back(std::move(current_->session));
  }
  current_.reset();
  host_.stop(std::move(live), nullptr);
}

// --- the 20 ms path (room clock thread) ---------------------------------------------------------

void TurnBackend::on_room_frame(const audio::Frame& inbound_48k) {
  PV_ASSERT_OWNER(clock_owner_);
  if (stopping_) {
    return;
  }
  const int64_t now = now_ms();
  host_.sweep([](const ClientSession&) {});
  detector_->process(inbound_48k, now,
                     [&](const audio::SegmenterEvent& event) { handle_vad_event(event, now); });
  if (!current_ && !queue_.empty()) {
    start_turn(now);
  }
  if (current_) {
    drive_turn(now);
  }
}

void TurnBackend::handle_vad_event(const audio::SegmenterEvent& event, int64_t now) {
  using Kind = audio::SegmenterEvent::Kind;
  auto* observer = context_.observer;
  if (event.kind == Kind::speech_start) {
    if (observer != nullptr) {
      observer->on_user_speech_start(event.speech_start_ms);
    }
    return;
  }
  if (event.kind != Kind::end_of_turn) {
    return;
  }
  auto utterance = std::make_shared<conversation::UserUtterance>();
  utterance->turn_id = ++next_turn_id_;
  utterance->pcm.sample_rate = audio::kSpeechRateHz;
  utterance->pcm.samples.assign(event.segment.begin(), event.segment.end());
  utterance->speech_end_media_ms = event.speech_end_ms;
  if (observer != nullptr) {
    observer->on_user_turn_end(utterance->turn_id, event.speech_end_ms);
  }
  if (static_cast<int>(queue_.size()) >= options_.max_queued_turns) {
    BackendError error{ErrorKind::internal,
                       "too many user turns waiting for PersonaPlex (" +
                           std::to_string(queue_.size()) + "); this one is handed back",
                       true, std::move(utterance)};
    if (observer != nullptr) {
      observer->on_error(error);
    }
    return;
  }
  queue_.push_back(Waiting{std::move(utterance), now});
  pending_stats_.max_queued = std::max(pending_stats_.max_queued, static_cast<int>(queue_.size()));
  publish_stats();
}

void TurnBackend::start_turn(int64_t now) {
  Waiting waiting = std::move(queue_.front());
  queue_.pop_front();
  ++pending_stats_.turns_started;
  auto session = host_.open(PromptContext{replies_.said()}, "pp-turn");
  if (!session) {
    BackendError error = session.error();
    error.unanswered = waiting.utterance;
    ++pending_stats_.turns_failed;
    publish_stats();
    if (context_.observer != nullptr) {
      context_.observer->on_error(error);
    }
    return;
  }
  ++pending_stats_.sessions_opened;
  current_.emplace();
  current_->waiting = std::move(waiting);
  current_->session = std::move(*session);
  current_->started = Clock::now();
  current_->started_ms = now;
  upsampler_->reset();
  fifo_24k_.clear();
  log::info_event("PERSONAPLEX_TURN_START",
                  {{"turnId", current_->waiting.utterance->turn_id},
                   {"session", current_->session->params().label},
                   {"userPcm16kBytes", current_->waiting.utterance->pcm.samples.size() * 2},
                   {"queued", queue_.size()},
                   {"timeoutMs", options_.turn_timeout_ms}});
  publish_stats();
}

void TurnBackend::drive_turn(int64_t now) {
  Turn& turn = *current_;
  if (turn.session->state() == SessionState::failed) {
    fail_turn(turn.session->error().value_or(
        BackendError{ErrorKind::internal, "PersonaPlex session failed", true, nullptr}));
    return;
  }
  if (Clock::now() - turn.started >= std::chrono::milliseconds(options_.turn_timeout_ms)) {
    fail_turn(BackendError{ErrorKind::turn_timeout,
                           "the turn did not finish within PERSONAPLEX_TURN_TIMEOUT_MS=" +
                               std::to_string(options_.turn_timeout_ms) + " ms",
                           true, nullptr});
    return;
  }
  if (!turn.session->handshake_done()) {
    return; // send nothing before the handshake
  }
  if (turn.handshake_ms < 0) {
    turn.handshake_ms = now;
  }
  feed_frame();
}

void TurnBackend::feed_frame() {
  Turn& turn = *current_;
  const auto& utterance = turn.waiting.utterance->pcm.samples;
  std::span<const int16_t> chunk(silence_16k_.data(), silence_16k_.size());
  if (turn.fed_samples < utterance.size()) {
    const std::size_t n = std::min(silence_16k_.size(), utterance.size() - turn.fed_samples);
    if (n == silence_16k_.size()) {
      chunk = std::span<const int16_t>(utterance.data() + turn.fed_samples, n);
    } else {
      // The utterance's last partial frame, padded with silence (in the fifo, no allocation).
      upsampler_->process(std::span<const int16_t>(utterance.data() + turn.fed_samples, n),
                          fifo_24k_);
      chunk = std::span<const int16_t>(silence_16k_.data(), silence_16k_.size() - n);
    }
    turn.fed_samples += n;
  }
  upsampler_->process(chunk, fifo_24k_);
  std::size_t offset = 0;
  while (fifo_24k_.size() - offset >= static_cast<std::size_t>(kSendFrameSamples)) {
    turn.session->send_frame_24k(
        std::span<const int16_t>(fifo_24k_.data() + offset, kSendFrameSamples));
    offset += kSendFrameSamples;
  }
  fifo_24k_.erase(fifo_24k_.begin(), fifo_24k_.begin() + static_cast<std::ptrdiff_t>(offset));
}

void TurnBackend::fill_agent_frame(audio::Frame& outbound_48k) {
  PV_ASSERT_OWNER(clock_owner_);
  if (stopping_) {
    return;
  }
  const int64_t now = now_ms();
  if (current_) {
    current_->session->playout().pull(outbound_48k.samples());
  }
  const bool audible = audio::rms_dbfs(outbound_48k.samples()) > options_.audible_threshold_dbfs;
  if (current_) {
    Turn& turn = *current_;
    ClientSession& session = *turn.session;
    if (session.text_count() != turn.text_index) {
      text_scratch_.clear();
      turn.text_index = session.copy_text(turn.text_index, text_scratch_);
      for (const auto& piece : text_scratch_) {
        turn.text += piece.text;
        replies_.on_text(piece.text);
      }
    }
    if (turn.first_audible_arrival_ms < 0) {
      turn.first_audible_arrival_ms = session.audible_since_ms();
    }
    if (audible && turn.first_played_ms < 0) {
      turn.first_played_ms = now;
    }
  }
  replies_.on_output(audible, now);
  if (current_ && current_->first_played_ms >= 0 && !audible &&
      now - replies_.last_audible_ms() >= options_.turn_quiet_ms) {
    finish_turn(now);
  }
  if (!allowed_.load(std::memory_order_relaxed)) {
    outbound_48k.clear_to_silence();
  }
  idle_.store(!current_.has_value() && queue_.empty());
}

void TurnBackend::finish_turn(int64_t now) {
  Turn turn = std::move(*current_);
  current_.reset();
  const auto& utterance = *turn.waiting.utterance;
  const double replay_ms = static_cast<double>(utterance.pcm.duration_ms());
  conversation::TurnReport report;
  report.turn_id = utterance.turn_id;
  report.agent_text = std::string(util::trim(turn.text));
  report.latency_parts_ms = {
      {"vad_wait", static_cast<double>(turn.waiting.decided_ms - utterance.speech_end_media_ms)},
      {"turn_queue", static_cast<double>(turn.started_ms - turn.waiting.decided_ms)},
      {"session_setup", static_cast<double>(turn.handshake_ms - turn.started_ms)},
      {"replay", replay_ms},
  };
  if (turn.first_audible_arrival_ms >= 0) {
    report.latency_parts_ms.emplace_back(
        "server_first_audio",
        std::max(0.0, static_cast<double>(turn.first_audible_arrival_ms - turn.handshake_ms) -
                          replay_ms));
  }
  const auto timings = turn.session->timings();
  log::info_event("PERSONAPLEX_TURN_OK", {{"turnId", utterance.turn_id},
                                          {"session", turn.session->params().label},
                                          {"handshakeMs", timings.handshake_ms},
                                          {"firstAudioMs", timings.first_audible_ms},
                                          {"durationMs", now - turn.started_ms},
                                          {"tokenChars", report.agent_text.size()}});
  host_.retire(turn.session);
  ++pending_stats_.turns_completed;
  publish_stats();
  if (context_.observer != nullptr) {
    context_.observer->on_turn_complete(std::move(report));
  }
}

void TurnBackend::fail_turn(BackendError error) {
  Turn turn = std::move(*current_);
  current_.reset();
  const bool answered = turn.first_played_ms >= 0;
  if (!answered) {
    error.unanswered = turn.waiting.utterance;
  }
  log::warn_event("PERSONAPLEX_TURN_ERROR", {{"turnId", turn.waiting.utterance->turn_id},
                                             {"session", turn.session->params().label},
                                             {"failureType", conversation::to_string(error.kind)},
                                             {"answered", answered}});
  if (error.kind == ErrorKind::turn_timeout) {
    turn.session->abort();
  }
  host_.retire(turn.session);
  ++pending_stats_.turns_failed;
  publish_stats();
  if (context_.observer != nullptr) {
    context_.observer->on_error(error);
    if (answered) {
      conversation::TurnReport report;
      report.turn_id = turn.waiting.utterance->turn_id;
      report.agent_text = std::string(util::trim(turn.text));
      report.interrupted = true;
      context_.observer->on_turn_complete(std::move(report));
    }
  }
}

void TurnBackend::publish_stats() {
  std::lock_guard lock(stats_mutex_);
  stats_ = pending_stats_;
}

TurnStats TurnBackend::stats() const {
  std::lock_guard lock(stats_mutex_);
  return stats_;
}

} // namespace pv::personaplex
