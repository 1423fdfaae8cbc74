#include "cascade/orchestrator.hpp"

#include "audio/resampler.hpp"
#include "cascade/feedback.hpp"
#include "cascade/orchestrator_lanes.hpp"
#include "cascade/orchestrator_output.hpp"
#include "cascade/personas.hpp"
#include "cascade/prompts.hpp"
#include "log/log.hpp"
#include "util/thread_owner.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <exception>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <thread>
#include <utility>
#include <variant>

namespace pv::cascade {

namespace {

using conversation::BackendError;
using conversation::ErrorKind;
using WallClock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr std::size_t kFrame16 = audio::kSegmenterFrameSamples;
constexpr milliseconds kWorkerPoll{10};
constexpr milliseconds kPlayoutPoll{10};
// Leading TTS near-silence kept before the first audible audio: a reply's first sentence (a soft
// onset), later ones (a natural pause between sentences).
constexpr int kFirstLeadKeepMs = 30;
constexpr int kLeadKeepMs = 60;
constexpr double kAudibleRms = 104.0;    // -50 dBFS
constexpr std::size_t kTrimWindow = 240; // 5 ms at 48 kHz

double ms_between(WallClock::time_point from, WallClock::time_point to) {
  return std::chrono::duration<double, std::milli>(to - from).count();
}

ErrorKind error_kind_for(ProviderErrorKind kind, ErrorKind stage) {
  switch (kind) {
  case ProviderErrorKind::first_token_timeout:
  case ProviderErrorKind::timeout:
    return ErrorKind::provider_timeout;
  case ProviderErrorKind::rate_limited:
    return ErrorKind::rate_limited;
  case ProviderErrorKind::config:
    return ErrorKind::config;
  default:
    return stage;
  }
}

std::optional<Reaction> reaction_of(const std::string& kind) {
  if (kind == "like") {
    return Reaction::like;
  }
  if (kind == "dislike") {
    return Reaction::dislike;
  }
  if (kind == "boo") {
    return Reaction::boo;
  }
  if (kind == "cheer") {
    return Reaction::cheer;
  }
  return std::nullopt;
}

// ---- messages to the worker (posted by value) ----

struct FrameSlot {
  int64_t start_ms = 0;
  WallClock::time_point arrived{}; // when the clock thread handed it over (barge-in stop latency)
  std::array<int16_t, kFrame16> samples{};
};

struct TranscriptEvent {
  uint64_t utterance = 0;
  tl::expected<Transcript, ProviderError> result;
};
struct LlmPieceEvent {
  uint64_t reply = 0;
  std::string text;
  WallClock::time_point at{};
};
struct LlmDoneEvent {
  uint64_t reply = 0;
  tl::expected<LlmResult, ProviderError> result;
};
struct SynthEvent {
  uint64_t reply = 0;
  bool started = false; // a synthesize() call started (true) or returned (false)
  WallClock::time_point at{};
};
struct FirstAudioEvent {
  uint64_t reply = 0;
  WallClock::time_point at{};
};
struct TtsFailedEvent {
  uint64_t reply = 0;
  ProviderError error;
};
struct SpeakerDoneEvent {
  uint64_t reply = 0;
};
struct AllowedEvent {
  bool allowed = true;
};
struct TakeOverEvent {
  std::shared_ptr<const conversation::UserUtterance> utterance;
};

using Event =
    std::variant<TranscriptEvent, LlmPieceEvent, LlmDoneEvent, SynthEvent, FirstAudioEvent,
                 TtsFailedEvent, SpeakerDoneEvent, AllowedEvent, TakeOverEvent>;

// ---- lane commands (posted by value) ----

struct AsrCommand {
  enum class Kind { none, start, audio, finish, cancel, transcribe };
  Kind kind = Kind::none;
  uint64_t utterance = 0;
  std::array<int16_t, kFrame16> frame{};
  std::size_t frame_samples = 0;
  std::shared_ptr<const conversation::UserUtterance> whole; // transcribe
  CancelToken cancel;
};

struct LlmCommand {
  uint64_t reply = 0;
  LlmRequest request;
};

struct SpeakerCommand {
  enum class Kind { none, begin, sentence, end };
  Kind kind = Kind::none;
  uint64_t reply = 0;
  std::size_t index = 0;
  std::string text;
  CancelToken cancel;
};

// The worker's inbox: a pre-allocated ring of 16 kHz frames from the clock thread plus the events
// of the lanes, under one short mutex (never held across I/O).
class WorkerInbox {
public:
  WorkerInbox(std::size_t frames, Activity& activity, bool count_frames)
      : ring_(std::max<std::size_t>(frames, 1)), activity_(activity), count_frames_(count_frames) {}

  // Clock thread: copies the frame in; false when the ring is full (the frame is dropped).
  bool push_frame(int64_t start_ms, WallClock::time_point arrived,
                  std::span<const int16_t> samples) {
    {
      std::lock_guard lock(mutex_);
      if (stopped_ || size_ == ring_.size()) {
        return false;
      }
      FrameSlot& slot = ring_[(head_ + size_) % ring_.size()];
      slot.start_ms = start_ms;
      slot.arrived = arrived;
      std::copy_n(samples.data(), std::min(samples.size(), kFrame16), slot.samples.data());
      ++size_;
      if (count_frames_) {
        activity_.add(Activity::worker);
      }
    }
    cv_.notify_one();
    return true;
  }

  void post(Event event) {
    {
      std::lock_guard lock(mutex_);
      if (stopped_) {
        return;
      }
      events_.push_back(std::move(event));
      activity_.add(Activity::worker);
    }
    cv_.notify_one();
  }

  // Worker: waits for a frame, an event, stop or `deadline`. False once stopped.
  bool wait(WallClock::time_point deadline) {
    std::unique_lock lock(mutex_);
    cv_.wait_until(lock, deadline, [&] { return stopped_ || size_ > 0 || !events_.empty(); });
    return !stopped_;
  }

  bool pop_event(Event& out) {
    std::lock_guard lock(mutex_);
    if (events_.empty()) {
      return false;
    }
    out = std::move(events_.front());
    events_.pop_front();
    return true;
  }

  bool pop_frame(FrameSlot& out) {
    std::lock_guard lock(mutex_);
    if (size_ == 0) {
      return false;
    }
    out = ring_[head_];
    head_ = (head_ + 1) % ring_.size();
    --size_;
    return true;
  }

  void stop() {
    {
      std::lock_guard lock(mutex_);
      stopped_ = true;
    }
    cv_.notify_all();
  }

private:
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  std::vector<FrameSlot> ring_;
  std::size_t head_ = 0;
  std::size_t size_ = 0;
  std::deque<Event> events_;
  bool stopped_ = false;
  Activity& activity_;
  bool count_frames_;
};

// Runs `f` when the scope ends, however it ends (the completion message of a lane must reach the
// worker on every path, exceptions included, or the worker would wait for it forever).
template <class F>
class OnExit {
public:
  explicit OnExit(F f) : f_(std::move(f)) {}
  ~OnExit() {
    if (armed_) {
      f_();
    }
  }
  OnExit(const OnExit&) = delete;
  OnExit& operator=(const OnExit&) = delete;
  void dismiss() { armed_ = false; }

private:
  F f_;
  bool armed_ = true;
};

enum class ReplyKind { answer, greeting, opener, apology };

const char* to_string(ReplyKind kind) {
  switch (kind) {
  case ReplyKind::answer:
    return "answer";
  case ReplyKind::greeting:
    return "greeting";
  case ReplyKind::opener:
    return "opener";
  case ReplyKind::apology:
    return "apology";
  }
  return "?";
}

} // namespace

const char* to_string(OrchestratorState state) {
  switch (state) {
  case OrchestratorState::idle:
    return "idle";
  case OrchestratorState::listening:
    return "listening";
  case OrchestratorState::thinking:
    return "thinking";
  case OrchestratorState::speaking:
    return "speaking";
  }
  return "?";
}

struct Orchestrator::Impl {
  // ---- user turns and replies (worker-owned) ----
  struct UserTurn {
    uint64_t turn_id = 0;
    uint64_t utterance = 0;
    CancelSource asr_cancel;
    int64_t speech_end_ms = -1;
    int64_t turn_end_ms = -1; // -1: taken over from another backend (no VAD wait here)
    WallClock::time_point finish_posted{};
    bool ready = false; // transcript (or its failure) known
    bool asr_failed = false;
    ProviderError asr_error;
    std::string text;
    double asr_ms = -1;
    bool merge_into_previous = false;
    std::vector<std::pair<uint64_t, std::string>> merged; // turns answered together with this one
  };

  struct Reply {
    Reply(const SafetyFilter& filter, const SentenceSplitterParams& splitter_params)
        : splitter(splitter_params), gate(filter) {}
    // However a reply ends (played through, cut, failed, stop()), its lane work is cancelled.
    ~Reply() {
      cancel.cancel();
      llm_cancel.cancel();
    }
    Reply(const Reply&) = delete;
    Reply& operator=(const Reply&) = delete;
    uint64_t id = 0;
    ReplyKind kind = ReplyKind::answer;
    uint64_t report_id = 0; // turn id reported to the observer
    std::string user_text;
    std::vector<std::pair<uint64_t, std::string>> merged;
    CancelSource cancel;     // everything of this reply (speaker included)
    CancelSource llm_cancel; // the LLM call only
    SentenceSplitter splitter;
    ReplyGate gate;
    std::size_t sentences = 0;
    bool llm_running = false;
    bool llm_done = true;
    bool got_first_piece = false;
    bool end_posted = false;
    bool speaker_done = false;
    bool audio_started = false;
    bool tts_failed = false;
    bool filler_done = false;
    bool synth_running = false;
    int64_t started_ms = 0;
    WallClock::time_point llm_posted{};
    WallClock::time_point first_sentence_posted{};
    WallClock::time_point synth_started{};
    double vad_wait_ms = -1;
    double asr_ms = -1;
    double llm_first_token_ms = -1;
    double tts_first_chunk_ms = -1;
  };

  enum class Opening { none, scheduled, done };

  // ---- speaker lane state (speaker-lane-owned) ----
  struct Speaker {
    uint64_t reply = 0;
    CancelToken cancel;
    bool failed = false;
    bool first_audio = false;
    std::size_t index = 0;
    std::optional<audio::StreamResampler> resampler;
    int resampler_rate = 0;
    std::vector<int16_t> stage; // 48 kHz audio synthesized but not yet in the playout buffer
    std::size_t stage_pos = 0;
    int64_t sentence_samples = 0;
    bool trimming = false;     // still dropping the sentence's leading near-silence
    std::size_t keep_lead = 0; // samples of it kept before the first audible one
    util::ThreadOwner owner;
  };

  // ---- ASR lane state (ASR-lane-owned) ----
  struct AsrState {
    uint64_t utterance = 0;
    std::unique_ptr<AsrSession> session;
    std::optional<ProviderError> error;
    std::deque<AsrCommand> deferred; // whole-utterance jobs waiting for the live one to end
    util::ThreadOwner owner;
  };

  Impl(OrchestratorParams p, OrchestratorProviders providers_in, audio::VadSegmenter segmenter_in,
       audio::FrameResampler down_in, std::vector<audio::PcmBuffer> fillers_48k)
      : params(std::move(p)), providers(std::move(providers_in)),
        persona(&find_persona(params.persona_id)), safety(params.safety),
        memory(params.max_turns_in_memory),
        feedback(FeedbackParams{60000, params.feedback_react_to, 4096, 100}),
        inbox(static_cast<std::size_t>(params.frame_queue_frames), activity,
              params.sync_wait_ms > 0),
        output(audio::PlayoutBufferParams{audio::kRoomRateHz, params.playout_capacity_ms, 0}),
        asr_lane("asr", static_cast<std::size_t>(params.asr_queue_frames) + 16, activity,
                 Activity::asr),
        llm_lane("llm", 16, activity, Activity::llm),
        speaker_lane("speaker", 512, activity, Activity::speaker), down(std::move(down_in)),
        segmenter(std::move(segmenter_in)), barge(params.barge_in),
        filler_pcm(std::move(fillers_48k)), next_turn_id(params.first_turn_id),
        sync(params.sync_wait_ms > 0) {
    speaker.stage.reserve(static_cast<std::size_t>(audio::kRoomRateHz) * 4);
  }

  OrchestratorParams params;
  OrchestratorProviders providers;
  const Persona* persona;
  SafetyFilter safety;
  SessionMemory memory;
  FeedbackCollector feedback;
  Activity activity;
  WorkerInbox inbox;
  ReplyPlayout output;
  Lane<AsrCommand> asr_lane;
  Lane<LlmCommand> llm_lane;
  Lane<SpeakerCommand> speaker_lane;

  conversation::BackendContext context;
  std::atomic<bool> started{false};
  bool stopped_once = false; // start()/stop() are called by the backend's owner, not concurrently
  std::atomic<bool> allowed_clock{true};
  std::atomic<bool> idle_flag{true};
  std::atomic<int> state_value{static_cast<int>(OrchestratorState::idle)};
  std::atomic<int64_t> frames_dropped{0};

  // ---- room clock thread ----
  util::ThreadOwner clock_owner;
  audio::FrameResampler down;
  audio::Frame frame16{audio::kSpeechRateHz};
  int64_t base_ms = 0;
  int64_t produced16 = 0;
  int64_t last_media_ms = -1;

  // ---- worker thread ----
  std::thread worker;
  util::ThreadOwner worker_owner;
  audio::VadSegmenter segmenter;
  audio::BargeInDetector barge;
  std::vector<audio::PcmBuffer> filler_pcm; // the bank's clips at 48 kHz, same order
  OrchestratorState state = OrchestratorState::idle;
  bool allowed = true;
  bool user_turn_seen = false;
  struct OpenUtterance {
    uint64_t id = 0;
    CancelSource cancel;
    bool overflowed = false; // the ASR lane refused some of its audio
  };
  std::optional<OpenUtterance> open_utterance;
  uint64_t next_utterance = 1;
  uint64_t next_turn_id;
  uint64_t next_reply = 1;
  std::deque<UserTurn> turns;
  std::unique_ptr<Reply> reply;
  Opening opening = Opening::none;
  bool opening_is_greeting = false;
  int64_t opening_due_ms = 0;
  uint64_t filler_rotation = 0;
  int64_t frames_dropped_logged = 0;
  std::vector<std::string> chunks; // splitter output, reused
  bool sync;

  // ---- lanes ----
  Speaker speaker;
  AsrState asr;

  mutable std::mutex stats_mutex;
  OrchestratorStats stats_data;

  template <class F>
  void count(F&& update) {
    std::lock_guard lock(stats_mutex);
    update(stats_data);
  }

  int64_t now_media() const { return context.media_time_ms ? context.media_time_ms() : 0; }
  conversation::BackendObserver* observer() const { return context.observer; }

  // =============================== worker ===============================

  void set_state(OrchestratorState next) {
    if (next == state) {
      return;
    }
    log::event(spdlog::level::debug, "CASCADE_STATE",
               {{"from", to_string(state)}, {"to", to_string(next)}});
    state = next;
    state_value.store(static_cast<int>(next));
  }

  // The state once the current reply (if any) is gone.
  OrchestratorState resting_state() const {
    if (!turns.empty()) {
      return OrchestratorState::thinking;
    }
    return open_utterance ? OrchestratorState::listening : OrchestratorState::idle;
  }

  void report_error(ErrorKind kind, const std::string& message, bool retryable) {
    if (observer() != nullptr) {
      observer()->on_error(BackendError{kind, message, retryable, nullptr});
    }
  }

  void run_worker() {
    worker_owner.bind_to_current_thread();
    FrameSlot frame;
    Event event;
    for (;;) {
      if (!inbox.wait(WallClock::now() + kWorkerPoll)) {
        break;
      }
      while (inbox.pop_event(event)) {
        try {
          std::visit([this](auto& e) { handle(e); }, event);
        } catch (const std::exception& e) {
          log::error_event("CASCADE_INTERNAL_ERROR", {{"message", e.what()}});
        }
        event = AllowedEvent{};
        activity.done(Activity::worker);
      }
      while (inbox.pop_frame(frame)) {
        try {
          handle_frame(frame);
          poll();
        } catch (const std::exception& e) {
          log::error_event("CASCADE_INTERNAL_ERROR", {{"message", e.what()}});
        }
        if (sync) {
          activity.done(Activity::worker);
        }
      }
      poll();
    }
    shutdown_worker();
  }

  void shutdown_worker() {
    PV_ASSERT_OWNER(worker_owner);
    if (reply) {
      reply->cancel.cancel();
      reply->llm_cancel.cancel();
      output.cut(reply->id);
    }
    for (auto& t : turns) {
      t.asr_cancel.cancel();
    }
    if (open_utterance) {
      open_utterance->cancel.cancel();
    }
    idle_flag.store(true);
  }

  bool post_asr(AsrCommand&& command) {
    if (asr_lane.try_post(std::move(command))) {
      return true;
    }
    count([](OrchestratorStats& s) { ++s.asr_frames_dropped; });
    if (open_utterance) {
      open_utterance->overflowed = true;
    }
    return false;
  }

  void post_asr_audio(uint64_t utterance, std::span<const int16_t> pcm) {
    for (std::size_t pos = 0; pos < pcm.size(); pos += kFrame16) {
      AsrCommand c;
      c.kind = AsrCommand::Kind::audio;
      c.utterance = utterance;
      c.frame_samples = std::min(kFrame16, pcm.size() - pos);
      std::copy_n(pcm.data() + pos, c.frame_samples, c.frame.data());
      post_asr(std::move(c));
    }
  }

  void handle_frame(const FrameSlot& frame) {
    PV_ASSERT_OWNER(worker_owner);
    auto ev = segmenter.process(frame.samples, frame.start_ms);
    if (!ev) {
      return; // only a wrong frame length, which the clock side never produces
    }

    // Barge-in: sustained user speech while the agent's audio plays.
    if (reply && allowed && output.active()) {
      if (barge.on_frame(ev->frame_is_speech)) {
        barge_in(frame);
      }
    } else {
      barge.reset();
    }

    using K = audio::SegmenterEvent::Kind;
    if (ev->kind == K::speech_start) {
      on_speech_start(*ev);
    } else if (ev->frame_in_segment && open_utterance) {
      post_asr_audio(open_utterance->id, frame.samples);
    }
    if (ev->kind == K::end_of_turn) {
      // The decision is taken when this frame is delivered: that is the end of the VAD wait.
      on_end_of_turn(*ev, frame.start_ms);
    } else if (ev->kind == K::discarded) {
      on_discarded();
    }
  }

  void on_speech_start(const audio::SegmenterEvent& ev) {
    OpenUtterance u;
    u.id = next_utterance++;
    AsrCommand start;
    start.kind = AsrCommand::Kind::start;
    start.utterance = u.id;
    start.cancel = u.cancel.token();
    open_utterance = std::move(u);
    post_asr(std::move(start));
    post_asr_audio(open_utterance->id, ev.segment);
    if (observer() != nullptr) {
      observer()->on_user_speech_start(ev.speech_start_ms);
    }
    // The user takes the floor: a greeting/opener that is not audible yet is dropped.
    if (reply && (reply->kind == ReplyKind::opener || reply->kind == ReplyKind::greeting) &&
        !reply->audio_started) {
      log::info_event(reply->kind == ReplyKind::opener ? "OPENER_SKIPPED" : "GREETING_SKIPPED",
                      {{"reason", "user_started_speaking"}});
      count([](OrchestratorStats& s) { ++s.openings_skipped; });
      cut_reply(false);
    }
    if (!reply) {
      set_state(turns.empty() ? OrchestratorState::listening : OrchestratorState::thinking);
    }
  }

  void on_end_of_turn(const audio::SegmenterEvent& ev, int64_t turn_end_ms) {
    if (!open_utterance) {
      return;
    }
    UserTurn t;
    t.turn_id = next_turn_id++;
    t.utterance = open_utterance->id;
    t.asr_cancel = open_utterance->cancel;
    t.speech_end_ms = ev.speech_end_ms;
    t.turn_end_ms = turn_end_ms;
    t.finish_posted = WallClock::now();
    const bool overflowed = open_utterance->overflowed;
    open_utterance.reset();
    if (overflowed) {
      fail_transcript(
          t, make_error(ProviderErrorKind::busy, "the ASR lane fell behind and had to drop audio"));
      AsrCommand cancel;
      cancel.kind = AsrCommand::Kind::cancel;
      cancel.utterance = t.utterance;
      post_asr(std::move(cancel));
    } else {
      AsrCommand finish;
      finish.kind = AsrCommand::Kind::finish;
      finish.utterance = t.utterance;
      if (!post_asr(std::move(finish))) {
        fail_transcript(t, make_error(ProviderErrorKind::busy, "the ASR lane is full"));
      }
    }
    user_turn_seen = true;
    if (observer() != nullptr) {
      observer()->on_user_turn_end(t.turn_id, t.speech_end_ms);
    }
    queue_turn(std::move(t));
    maybe_start_next();
  }

  void queue_turn(UserTurn t) {
    if (static_cast<int>(turns.size()) >= std::max(1, params.max_pending_turns)) {
      t.merge_into_previous = true;
      count([](OrchestratorStats& s) { ++s.merged_turns; });
    }
    log::event(spdlog::level::debug, "TURN_QUEUED",
               {{"turn_id", t.turn_id}, {"queued", turns.size() + 1}});
    turns.push_back(std::move(t));
    const auto queued = static_cast<int64_t>(turns.size());
    count([&](OrchestratorStats& s) {
      ++s.user_turns;
      s.max_queued_turns = std::max(s.max_queued_turns, queued);
    });
    if (!reply) {
      set_state(OrchestratorState::thinking);
    }
  }

  void on_discarded() {
    if (open_utterance) {
      AsrCommand cancel;
      cancel.kind = AsrCommand::Kind::cancel;
      cancel.utterance = open_utterance->id;
      open_utterance->cancel.cancel();
      open_utterance.reset();
      post_asr(std::move(cancel));
    }
    maybe_start_next(); // turns held while the user was talking
  }

  void fail_transcript(UserTurn& t, ProviderError error) {
    t.ready = true;
    t.asr_failed = true;
    t.asr_ms = ms_between(t.finish_posted, WallClock::now());
    log::warn_event(
        "ASR_FAILED",
        {{"turn_id", t.turn_id}, {"kind", to_string(error.kind)}, {"message", error.message}});
    count([](OrchestratorStats& s) { ++s.asr_failures; });
    report_error(error_kind_for(error.kind, ErrorKind::asr_failed), "ASR failed: " + error.message,
                 error.retryable);
    t.asr_error = std::move(error);
  }

  void handle(TranscriptEvent& ev) {
    PV_ASSERT_OWNER(worker_owner);
    auto it = std::find_if(turns.begin(), turns.end(), [&](const UserTurn& t) {
      return t.utterance == ev.utterance && !t.ready;
    });
    if (it == turns.end()) {
      return; // late (the watchdog already gave up on it)
    }
    if (!ev.result) {
      fail_transcript(*it, std::move(ev.result.error()));
    } else {
      it->ready = true;
      it->text = std::move(ev.result->text);
      it->asr_ms = ms_between(it->finish_posted, WallClock::now());
    }
    maybe_start_next();
  }

  void handle(TakeOverEvent& ev) {
    PV_ASSERT_OWNER(worker_owner);
    const auto& u = *ev.utterance;
    UserTurn t;
    t.turn_id = u.turn_id;
    t.speech_end_ms = u.speech_end_media_ms;
    t.finish_posted = WallClock::now();
    if (observer() != nullptr) {
      observer()->on_user_turn_end(t.turn_id, t.speech_end_ms);
    }
    if (!u.transcript.empty()) {
      t.ready = true;
      t.text = u.transcript;
    } else {
      t.utterance = next_utterance++;
      AsrCommand c;
      c.kind = AsrCommand::Kind::transcribe;
      c.utterance = t.utterance;
      c.whole = ev.utterance;
      c.cancel = t.asr_cancel.token();
      if (!asr_lane.try_post(std::move(c))) {
        fail_transcript(t, make_error(ProviderErrorKind::busy, "the ASR lane is full"));
      }
    }
    log::info_event("CASCADE_TAKE_OVER",
                    {{"turn_id", t.turn_id}, {"has_transcript", !u.transcript.empty()}});
    user_turn_seen = true;
    queue_turn(std::move(t));
    maybe_start_next();
  }

  void handle(AllowedEvent& ev) {
    PV_ASSERT_OWNER(worker_owner);
    allowed = ev.allowed;
    if (!allowed && reply) {
      log::info_event("REPLY_CUT", {{"reason", "speaking_not_allowed"}});
      cut_reply(true);
    }
  }

  // ---- starting replies ----

  void maybe_start_next() {
    // Never start answering while the user is talking: the reply would only be cut by barge-in.
    while (!reply && !turns.empty() && !open_utterance) {
      if (!turns.front().ready) {
        break;
      }
      // Turns merged into the front one (the queue was full) must be transcribed too.
      bool waiting = false;
      while (turns.size() > 1 && turns[1].merge_into_previous) {
        if (!turns[1].ready) {
          waiting = true;
          break;
        }
        UserTurn next = std::move(turns[1]);
        turns.erase(turns.begin() + 1);
        UserTurn& front = turns.front();
        if (!next.asr_failed && !next.text.empty()) {
          front.text += (front.text.empty() ? "" : " ") + next.text;
          if (front.asr_failed) { // the merged text is something to answer after all
            front.asr_failed = false;
          }
        }
        front.merged.emplace_back(next.turn_id, next.text);
        for (auto& m : next.merged) {
          front.merged.push_back(std::move(m));
        }
      }
      if (waiting) {
        break;
      }
      UserTurn t = std::move(turns.front());
      turns.pop_front();
      start_answer(std::move(t));
    }
    if (!reply) {
      set_state(resting_state());
    }
    update_idle();
  }

  std::vector<std::pair<std::string, double>> parts_of(const UserTurn& t) const {
    std::vector<std::pair<std::string, double>> parts;
    if (t.turn_end_ms >= 0 && t.speech_end_ms >= 0) {
      parts.emplace_back("vad_wait", static_cast<double>(t.turn_end_ms - t.speech_end_ms));
    }
    if (t.asr_ms >= 0) {
      parts.emplace_back("asr", t.asr_ms);
    }
    return parts;
  }

  void report_turn(uint64_t turn_id, std::string user_text, std::string agent_text,
                   bool interrupted, std::vector<std::pair<std::string, double>> parts,
                   const std::vector<std::pair<uint64_t, std::string>>& merged) {
    if (observer() == nullptr) {
      return;
    }
    conversation::TurnReport report;
    report.turn_id = turn_id;
    report.user_text = std::move(user_text);
    report.agent_text = std::move(agent_text);
    report.interrupted = interrupted;
    report.latency_parts_ms = std::move(parts);
    observer()->on_turn_complete(std::move(report));
    for (const auto& [id, text] : merged) {
      conversation::TurnReport m;
      m.turn_id = id;
      m.user_text = text; // answered together with `turn_id`
      observer()->on_turn_complete(std::move(m));
    }
  }

  void start_answer(UserTurn t) {
    if (t.asr_failed) {
      if (allowed) {
        Reply& r = begin_reply(ReplyKind::apology, t);
        count([](OrchestratorStats& s) { ++s.apologies; });
        speak_text(r, params.not_heard_text);
      } else {
        report_turn(t.turn_id, "", "", false, parts_of(t), t.merged);
      }
      return;
    }
    const UserTextCheck check = safety.check_user(t.text);
    if (!check.allowed) { // nothing recognised: nothing to answer
      report_turn(t.turn_id, "", "", false, parts_of(t), t.merged);
      return;
    }
    memory.append(Role::user, check.text, now_media());
    if (!allowed) { // heard, but the agent may not speak now
      report_turn(t.turn_id, check.text, "", false, parts_of(t), t.merged);
      return;
    }
    t.text = check.text;
    Reply& r = begin_reply(ReplyKind::answer, t);
    start_llm(r, build_reply_messages(*persona, memory.snapshot(), feedback_line()),
              params.llm_max_tokens, LlmPurpose::reply);
  }

  Reply& begin_reply(ReplyKind kind, const UserTurn& t) {
    Reply& r = begin_reply(kind, t.turn_id);
    r.user_text = t.asr_failed ? std::string() : t.text;
    r.merged = t.merged;
    if (t.turn_end_ms >= 0 && t.speech_end_ms >= 0) {
      r.vad_wait_ms = static_cast<double>(t.turn_end_ms - t.speech_end_ms);
    }
    r.asr_ms = t.asr_ms;
    return r;
  }

  Reply& begin_reply(ReplyKind kind, uint64_t report_id) {
    reply = std::make_unique<Reply>(safety, params.splitter);
    Reply& r = *reply;
    r.id = next_reply++;
    r.kind = kind;
    r.report_id = report_id;
    r.started_ms = now_media();
    output.begin_reply(r.id);
    barge.reset();
    SpeakerCommand begin;
    begin.kind = SpeakerCommand::Kind::begin;
    begin.reply = r.id;
    begin.cancel = r.cancel.token();
    speaker_lane.try_post(std::move(begin));
    count([](OrchestratorStats& s) { ++s.replies_started; });
    log::event(spdlog::level::debug, "REPLY_STARTED",
               {{"reply", r.id}, {"turn_id", report_id}, {"kind", to_string(kind)}});
    set_state(OrchestratorState::thinking);
    return r;
  }

  std::string feedback_line() const {
    return build_feedback_line(feedback.snapshot(now_media(), persona->thresholds));
  }

  void start_llm(Reply& r, std::vector<ChatMessage> messages, int max_tokens, LlmPurpose purpose) {
    LlmCommand c;
    c.reply = r.id;
    c.request.messages = std::move(messages);
    c.request.max_tokens = max_tokens;
    c.request.purpose = purpose;
    c.request.first_token_timeout = params.llm_first_token_timeout;
    c.request.total_timeout = params.llm_total_timeout;
    c.request.cancel = r.llm_cancel.token();
    r.llm_posted = WallClock::now();
    r.llm_running = true;
    r.llm_done = false;
    if (!llm_lane.try_post(std::move(c))) {
      LlmDoneEvent failed{
          r.id, tl::unexpected(make_error(ProviderErrorKind::busy, "the LLM lane is full"))};
      handle(failed);
    }
  }

  // A fixed text (greeting, apology): through the safety gate and the splitter, then spoken.
  void speak_text(Reply& r, const std::string& text) {
    chunks.clear();
    r.splitter.push(text, chunks);
    r.splitter.flush(chunks);
    send_sentences(r);
    post_end(r);
  }

  void send_sentences(Reply& r) {
    for (const std::string& chunk : chunks) {
      const ReplyGate::Passed passed = r.gate.pass(chunk);
      if (!passed.text.empty()) {
        post_sentence(r, passed.text);
      }
      if (passed.exhausted) {
        r.llm_cancel.cancel(); // the length budget is spent: stop the LLM
        break;
      }
    }
    chunks.clear();
  }

  void post_sentence(Reply& r, std::string text) {
    SpeakerCommand c;
    c.kind = SpeakerCommand::Kind::sentence;
    c.reply = r.id;
    c.index = r.sentences;
    c.text = std::move(text);
    c.cancel = r.cancel.token();
    if (r.sentences == 0) {
      r.first_sentence_posted = WallClock::now();
    }
    if (speaker_lane.try_post(std::move(c))) {
      ++r.sentences;
    } else {
      log::warn_event("SENTENCE_DROPPED", {{"reply", r.id}, {"reason", "speaker lane full"}});
    }
  }

  void post_end(Reply& r) {
    if (r.end_posted) {
      return;
    }
    SpeakerCommand c;
    c.kind = SpeakerCommand::Kind::end;
    c.reply = r.id;
    c.cancel = r.cancel.token();
    r.end_posted = true;
    if (!speaker_lane.try_post(std::move(c))) {
      r.speaker_done = true; // nothing will come back: finish on our own
      output.end_reply(r.id);
    }
  }

  // ---- LLM events ----

  bool is_current(uint64_t id) const { return reply && reply->id == id; }

  void handle(LlmPieceEvent& ev) {
    PV_ASSERT_OWNER(worker_owner);
    if (!is_current(ev.reply) || reply->llm_done) {
      return;
    }
    Reply& r = *reply;
    if (!r.got_first_piece) {
      r.got_first_piece = true;
      r.llm_first_token_ms = ms_between(r.llm_posted, ev.at);
    }
    if (r.tts_failed || r.gate.exhausted()) {
      return;
    }
    chunks.clear();
    r.splitter.push(ev.text, chunks);
    send_sentences(r);
  }

  void handle(LlmDoneEvent& ev) {
    PV_ASSERT_OWNER(worker_owner);
    if (!is_current(ev.reply) || reply->llm_done) {
      return;
    }
    Reply& r = *reply;
    r.llm_done = true;
    r.llm_running = false;
    const bool stopped_by_us = !ev.result &&
                               ev.result.error().kind == ProviderErrorKind::cancelled &&
                               (r.gate.exhausted() || r.tts_failed);
    if (ev.result || stopped_by_us) {
      if (!r.tts_failed && !r.gate.exhausted()) {
        chunks.clear();
        r.splitter.flush(chunks);
        send_sentences(r);
      }
    } else {
      const ProviderError& e = ev.result.error();
      log::warn_event(r.kind == ReplyKind::opener ? "OPENER_LLM_FAILED" : "LLM_FAILED",
                      {{"reply", r.id},
                       {"turn_id", r.report_id},
                       {"kind", to_string(e.kind)},
                       {"message", e.message},
                       {"sentences_sent", r.sentences}});
      count([](OrchestratorStats& s) { ++s.llm_failures; });
      report_error(error_kind_for(e.kind, ErrorKind::llm_failed), "LLM failed: " + e.message,
                   e.retryable);
      if (r.sentences == 0 && r.kind == ReplyKind::answer && allowed) {
        count([](OrchestratorStats& s) { ++s.apologies; });
        chunks.clear();
        r.splitter.reset();
        r.splitter.push(params.apology_text, chunks);
        r.splitter.flush(chunks);
        send_sentences(r);
      }
    }
    post_end(r);
  }

  // ---- speaker events ----

  void handle(SynthEvent& ev) {
    PV_ASSERT_OWNER(worker_owner);
    if (!is_current(ev.reply)) {
      return;
    }
    reply->synth_running = ev.started;
    reply->synth_started = ev.at;
  }

  void handle(FirstAudioEvent& ev) {
    PV_ASSERT_OWNER(worker_owner);
    if (!is_current(ev.reply) || reply->audio_started) {
      return;
    }
    Reply& r = *reply;
    r.audio_started = true;
    r.tts_first_chunk_ms = ms_between(r.first_sentence_posted, ev.at);
    if (r.kind == ReplyKind::greeting) {
      count([](OrchestratorStats& s) { ++s.greetings; });
    } else if (r.kind == ReplyKind::opener) {
      count([](OrchestratorStats& s) { ++s.openers; });
    }
    set_state(OrchestratorState::speaking);
  }

  void tts_failed(Reply& r, const ProviderError& e) {
    log::warn_event("TTS_FAILED", {{"reply", r.id},
                                   {"turn_id", r.report_id},
                                   {"kind", to_string(e.kind)},
                                   {"message", e.message}});
    count([](OrchestratorStats& s) { ++s.tts_failures; });
    report_error(error_kind_for(e.kind, ErrorKind::tts_failed), "TTS failed: " + e.message,
                 e.retryable);
    r.tts_failed = true;
    r.llm_cancel.cancel();
  }

  void handle(TtsFailedEvent& ev) {
    PV_ASSERT_OWNER(worker_owner);
    if (!is_current(ev.reply) || reply->tts_failed) {
      return;
    }
    tts_failed(*reply, ev.error);
    if (reply->llm_done) {
      post_end(*reply);
    }
  }

  void handle(SpeakerDoneEvent& ev) {
    PV_ASSERT_OWNER(worker_owner);
    if (!is_current(ev.reply)) {
      return;
    }
    reply->speaker_done = true;
    poll_reply();
  }

  // ---- ending replies ----

  void barge_in(const FrameSlot& frame) {
    Reply& r = *reply;
    r.cancel.cancel();
    r.llm_cancel.cancel();
    const PlayoutCut cut = output.cut(r.id);
    const double stop_latency_ms = ms_between(frame.arrived, WallClock::now());
    count([](OrchestratorStats& s) { ++s.barge_ins; });
    log::event(spdlog::level::debug, "BARGE_IN_CUT",
               {{"reply", r.id},
                {"heard_chars", cut.heard_text.size()},
                {"discarded_samples", cut.discarded_samples}});
    if (observer() != nullptr) {
      observer()->on_barge_in(r.report_id, frame.start_ms + audio::kFrameMs, stop_latency_ms);
    }
    finish_reply(true, cut.heard_text);
  }

  // Stops the current reply now; memory and the report keep what was heard.
  void cut_reply(bool interrupted) {
    Reply& r = *reply;
    r.cancel.cancel();
    r.llm_cancel.cancel();
    const PlayoutCut cut = output.cut(r.id);
    finish_reply(interrupted, cut.heard_text);
  }

  void finish_reply(bool interrupted, const std::string& agent_text) {
    std::unique_ptr<Reply> done = std::move(reply);
    done->cancel.cancel(); // lanes drop anything still queued for it
    done->llm_cancel.cancel();
    if (interrupted) {
      // Appended as produced, then amended to what the room heard (marked interrupted, or
      // removed when nothing was heard), so the LLM never remembers unheard words.
      if (memory.append(Role::assistant, done->gate.spoken(), now_media())) {
        memory.amend_last_assistant(agent_text);
      }
    } else if (!agent_text.empty()) {
      memory.append(Role::assistant, agent_text, now_media());
    }
    std::vector<std::pair<std::string, double>> parts;
    if (done->vad_wait_ms >= 0) {
      parts.emplace_back("vad_wait", done->vad_wait_ms);
    }
    if (done->asr_ms >= 0) {
      parts.emplace_back("asr", done->asr_ms);
    }
    if (done->llm_first_token_ms >= 0) {
      parts.emplace_back("llm_first_token", done->llm_first_token_ms);
    }
    if (done->tts_first_chunk_ms >= 0) {
      parts.emplace_back("tts_first_chunk", done->tts_first_chunk_ms);
    }
    // Agent-initiated replies are reported only when something was said.
    const bool user_turn = done->kind == ReplyKind::answer || done->kind == ReplyKind::apology;
    if (user_turn || !agent_text.empty()) {
      report_turn(done->report_id, done->user_text, agent_text, interrupted, std::move(parts),
                  done->merged);
    }
    count([&](OrchestratorStats& s) {
      if (interrupted) {
        ++s.replies_cut;
      } else {
        ++s.replies_completed;
      }
    });
    barge.reset();
    maybe_start_next();
  }

  void poll_reply() {
    if (!reply || !reply->speaker_done) {
      return;
    }
    if (output.played_through(reply->id)) {
      // After a TTS failure only the sentences that reached the room count as said.
      finish_reply(false,
                   reply->tts_failed ? output.cut(reply->id).heard_text : reply->gate.spoken());
    }
  }

  // ---- timers and watchdogs ----

  void poll() {
    PV_ASSERT_OWNER(worker_owner);
    const auto wall = WallClock::now();
    const int64_t media = now_media();

    // ASR: a transcript that never comes.
    bool gave_up = false;
    for (auto& t : turns) {
      if (!t.ready && t.utterance != 0 &&
          wall - t.finish_posted > params.asr_timeout + params.watchdog_grace) {
        t.asr_cancel.cancel();
        count([](OrchestratorStats& s) { ++s.watchdog_cancels; });
        fail_transcript(
            t, make_error(ProviderErrorKind::timeout, "no transcript within ASR_TIMEOUT_MS"));
        gave_up = true;
      }
    }
    if (gave_up) {
      maybe_start_next(); // the failed turn gets its apology
    }

    if (reply) {
      Reply& r = *reply;
      // LLM: first-token and total deadlines, even if the provider ignores them.
      if (r.llm_running) {
        const bool first_late =
            !r.got_first_piece &&
            wall - r.llm_posted > params.llm_first_token_timeout + params.watchdog_grace;
        const bool total_late =
            wall - r.llm_posted > params.llm_total_timeout + params.watchdog_grace;
        if (first_late || total_late) {
          r.llm_cancel.cancel();
          count([](OrchestratorStats& s) { ++s.watchdog_cancels; });
          LlmDoneEvent late{
              r.id, tl::unexpected(make_error(first_late ? ProviderErrorKind::first_token_timeout
                                                         : ProviderErrorKind::timeout,
                                              "the LLM call overran its deadline (watchdog)"))};
          handle(late);
        }
      }
      // TTS: one synthesize() call overrunning its deadline.
      if (reply && reply->synth_running &&
          wall - reply->synth_started > params.tts_timeout + params.watchdog_grace) {
        count([](OrchestratorStats& s) { ++s.watchdog_cancels; });
        tts_failed(*reply, make_error(ProviderErrorKind::timeout,
                                      "the TTS call overran TTS_TIMEOUT_MS (watchdog)"));
        cut_reply(false); // the speaker may be stuck: do not wait for it
      }
    }

    // Filler: the answer has no audio yet after filler_delay_ms.
    if (reply && reply->kind == ReplyKind::answer && !reply->audio_started && !reply->filler_done &&
        allowed && !open_utterance && params.fillers &&
        media - reply->started_ms >= params.filler_delay_ms) {
      reply->filler_done = true;
      play_filler(*reply);
    }

    // Greeting / opener.
    if (opening == Opening::scheduled && media >= opening_due_ms) {
      run_opening();
    }

    poll_reply();

    const int64_t dropped = frames_dropped.load();
    if (dropped != frames_dropped_logged) {
      log::warn_event("AUDIO_FRAMES_DROPPED",
                      {{"total", dropped}, {"new", dropped - frames_dropped_logged}});
      frames_dropped_logged = dropped;
    }
    update_idle();
  }

  void play_filler(Reply& r) {
    const FillerClip* clip = params.fillers->choose("thinking", filler_rotation++);
    if (clip == nullptr) {
      return;
    }
    const auto index = static_cast<std::size_t>(clip - params.fillers->clips().data());
    if (index >= filler_pcm.size() || !output.push_filler(r.id, filler_pcm[index].samples)) {
      return;
    }
    count([](OrchestratorStats& s) { ++s.fillers_played; });
    log::info_event("FILLER_PLAYED", {{"turn_id", r.report_id}, {"clip", clip->id}});
  }

  void run_opening() {
    const char* what = opening_is_greeting ? "GREETING_SKIPPED" : "OPENER_SKIPPED";
    if (user_turn_seen) {
      opening = Opening::done;
      count([](OrchestratorStats& s) { ++s.openings_skipped; });
      log::info_event(what, {{"reason", "user_spoke_first"}});
      return;
    }
    if (!allowed) {
      opening = Opening::done;
      count([](OrchestratorStats& s) { ++s.openings_skipped; });
      log::info_event(what, {{"reason", "speaking_not_allowed"}});
      return;
    }
    if (open_utterance || reply || !turns.empty()) {
      return; // the user is talking: try again when they stop
    }
    opening = Opening::done;
    const uint64_t id = next_turn_id++;
    if (opening_is_greeting) {
      Reply& r = begin_reply(ReplyKind::greeting, id);
      log::info_event("GREETING_STARTED", {{"turn_id", id}});
      speak_text(r, params.greeting_text);
    } else {
      Reply& r = begin_reply(ReplyKind::opener, id);
      log::info_event("OPENER_STARTED", {{"turn_id", id}});
      OpenerContext context_for_opener{params.topic_seed, params.room_context};
      start_llm(
          r,
          build_opener_messages(*persona, memory.snapshot(), feedback_line(), context_for_opener),
          params.opener_max_tokens, LlmPurpose::opener);
    }
  }

  void update_idle() {
    idle_flag.store(!reply && turns.empty() && !open_utterance && opening != Opening::scheduled);
  }

  // =============================== ASR lane ===============================

  void post_event(Event event) { inbox.post(std::move(event)); }

  void asr_handle(AsrCommand& c) {
    PV_ASSERT_OWNER(asr.owner);
    using K = AsrCommand::Kind;
    switch (c.kind) {
    case K::none:
      return;
    case K::start:
      asr_close();
      asr.utterance = c.utterance;
      asr.error.reset();
      try {
        AsrUtteranceParams p;
        p.sample_rate_hz = audio::kSpeechRateHz;
        p.timeout = params.asr_timeout;
        p.cancel = c.cancel;
        auto session = providers.asr->start_utterance(p);
        if (session) {
          asr.session = std::move(*session);
        } else {
          asr.error = session.error();
        }
      } catch (const std::exception& e) {
        asr.error = make_error(ProviderErrorKind::internal, e.what());
      }
      return;
    case K::audio:
      if (c.utterance != asr.utterance || !asr.session || asr.error) {
        return;
      }
      try {
        if (auto pushed = asr.session->push(std::span(c.frame.data(), c.frame_samples)); !pushed) {
          asr.error = pushed.error();
          asr.session.reset();
        }
      } catch (const std::exception& e) {
        asr.error = make_error(ProviderErrorKind::internal, e.what());
        asr.session.reset();
      }
      return;
    case K::finish: {
      TranscriptEvent ev{c.utterance,
                         tl::unexpected(make_error(ProviderErrorKind::internal, "no ASR session"))};
      OnExit always_report([&] { post_event(std::move(ev)); });
      if (c.utterance == asr.utterance) {
        if (asr.error) {
          ev.result = tl::unexpected(*asr.error);
        } else if (asr.session) {
          try {
            ev.result = asr.session->finish();
          } catch (const std::exception& e) {
            ev.result = tl::unexpected(make_error(ProviderErrorKind::internal, e.what()));
          }
        }
        asr.session.reset();
        asr.utterance = 0;
      }
      always_report.dismiss();
      post_event(std::move(ev));
      asr_run_deferred();
      return;
    }
    case K::cancel:
      if (c.utterance == asr.utterance) {
        asr_close();
      }
      asr_run_deferred();
      return;
    case K::transcribe:
      if (asr.session) {
        asr.deferred.push_back(std::move(c));
        return;
      }
      asr_transcribe(c);
      return;
    }
  }

  void asr_close() {
    if (asr.session) {
      try {
        asr.session->cancel();
      } catch (...) {
      }
      asr.session.reset();
    }
    asr.utterance = 0;
    asr.error.reset();
  }

  void asr_run_deferred() {
    while (!asr.session && !asr.deferred.empty()) {
      AsrCommand c = std::move(asr.deferred.front());
      asr.deferred.pop_front();
      asr_transcribe(c);
    }
  }

  // A whole utterance handed over by another backend.
  void asr_transcribe(AsrCommand& c) {
    TranscriptEvent ev{c.utterance, tl::unexpected(make_error(ProviderErrorKind::bad_input,
                                                              "no audio to transcribe"))};
    try {
      const audio::PcmBuffer& in = c.whole->pcm;
      audio::PcmBuffer pcm16;
      if (in.sample_rate == audio::kSpeechRateHz) {
        pcm16 = in;
      } else if (in.sample_rate > 0) {
        auto converted = audio::resample_clip(in, audio::kSpeechRateHz);
        if (!converted) {
          throw std::runtime_error("cannot resample the utterance: " + converted.error());
        }
        pcm16 = std::move(*converted);
      }
      if (!pcm16.samples.empty()) {
        AsrUtteranceParams p;
        p.timeout = params.asr_timeout;
        p.cancel = c.cancel;
        auto session = providers.asr->start_utterance(p);
        if (!session) {
          ev.result = tl::unexpected(session.error());
        } else {
          std::optional<ProviderError> error;
          for (std::size_t pos = 0; pos < pcm16.samples.size() && !error; pos += kFrame16) {
            const std::size_t n = std::min(kFrame16, pcm16.samples.size() - pos);
            if (auto pushed = (*session)->push(std::span(pcm16.samples.data() + pos, n)); !pushed) {
              error = pushed.error();
            }
          }
          ev.result = error ? tl::expected<Transcript, ProviderError>(tl::unexpected(*error))
                            : (*session)->finish();
        }
      }
    } catch (const std::exception& e) {
      ev.result = tl::unexpected(make_error(ProviderErrorKind::internal, e.what()));
    }
    post_event(std::move(ev));
  }

  // =============================== LLM lane ===============================

  void llm_handle(LlmCommand& c) {
    if (c.reply == 0) {
      return;
    }
    const uint64_t id = c.reply;
    const CancelToken cancel = c.request.cancel;
    TokenSink sink = [&](std::string_view piece) {
      post_event(LlmPieceEvent{id, std::string(piece), WallClock::now()});
      return !cancel.cancelled();
    };
    LlmDoneEvent done{id, tl::unexpected(make_error(ProviderErrorKind::internal, "not run"))};
    OnExit always_report([&] { post_event(std::move(done)); });
    try {
      done.result = providers.llm->generate(c.request, sink);
    } catch (const std::exception& e) {
      done.result = tl::unexpected(make_error(ProviderErrorKind::internal, e.what()));
    }
  }

  // =============================== speaker lane ===============================

  bool speaker_cancelled() const { return speaker.cancel.cancelled() || speaker_lane.stopping(); }

  void speaker_handle(SpeakerCommand& c) {
    PV_ASSERT_OWNER(speaker.owner);
    using K = SpeakerCommand::Kind;
    switch (c.kind) {
    case K::none:
      return;
    case K::begin:
      speaker.reply = c.reply;
      speaker.cancel = c.cancel;
      speaker.failed = false;
      speaker.first_audio = false;
      speaker.index = 0;
      speaker.resampler.reset();
      speaker.resampler_rate = 0;
      speaker.stage.clear();
      speaker.stage_pos = 0;
      return;
    case K::sentence:
      if (c.reply == speaker.reply && !speaker.failed && !speaker_cancelled()) {
        speak_sentence(c);
      }
      return;
    case K::end: {
      OnExit always_report([&] {
        output.end_reply(c.reply);
        post_event(SpeakerDoneEvent{c.reply});
      });
      if (c.reply == speaker.reply && !speaker.failed && !speaker_cancelled() &&
          speaker.resampler) {
        // Push the filter's last few ms (the tail of the last sentence).
        const std::vector<int16_t> zeros(static_cast<std::size_t>(speaker.resampler_rate / 100), 0);
        speaker.resampler->process(zeros, speaker.stage);
        drain_stage_blocking();
      }
      return;
    }
    }
  }

  void speak_sentence(SpeakerCommand& c) {
    // Look-ahead: synthesize the next sentence only when little enough audio is queued.
    while (output.buffered_ms() >= params.lookahead_ms && !speaker_cancelled()) {
      activity.wait_for_playout(Activity::speaker, kPlayoutPoll);
    }
    if (speaker_cancelled()) {
      return;
    }
    speaker.index = c.index;
    speaker.sentence_samples = 0;
    // TTS voices pad each sentence with silence (flite: ~220 ms). At the start of a reply that is
    // pure latency; between sentences it makes the pause long enough to flap "speaking".
    speaker.trimming = true;
    speaker.keep_lead = static_cast<std::size_t>(
        audio::samples_for_ms(audio::kRoomRateHz, c.index == 0 ? kFirstLeadKeepMs : kLeadKeepMs));
    output.begin_sentence(c.reply, c.index, c.text);
    TtsRequest request;
    request.text = c.text;
    request.voice = params.voice;
    request.timeout = params.tts_timeout;
    request.cancel = speaker.cancel;
    post_event(SynthEvent{c.reply, true, WallClock::now()});
    tl::expected<TtsResult, ProviderError> result =
        tl::unexpected(make_error(ProviderErrorKind::internal, "not run"));
    try {
      result =
          providers.tts->synthesize(request, [this](const TtsChunk& chunk) { on_chunk(chunk); });
    } catch (const std::exception& e) {
      result = tl::unexpected(make_error(ProviderErrorKind::internal, e.what()));
    }
    post_event(SynthEvent{c.reply, false, WallClock::now()});
    if (!result) {
      speaker.stage.clear();
      speaker.stage_pos = 0;
      if (result.error().kind != ProviderErrorKind::cancelled && !speaker_cancelled()) {
        speaker.failed = true;
        post_event(TtsFailedEvent{c.reply, result.error()});
      }
      return;
    }
    if (speaker.trimming) { // a sentence without any audible sample adds nothing
      speaker.stage.resize(speaker.stage_pos);
      speaker.trimming = false;
    }
    output.set_sentence_total(c.reply, c.index, speaker.sentence_samples);
    drain_stage_blocking();
  }

  // TTS sink: called by the provider, possibly under its internal lock: only resample, append and
  // push what fits (never waits).
  void on_chunk(const TtsChunk& chunk) {
    if (speaker_cancelled() || chunk.samples.empty() || chunk.sample_rate_hz <= 0) {
      return;
    }
    const std::size_t before = speaker.stage.size();
    if (chunk.sample_rate_hz == audio::kRoomRateHz) {
      speaker.stage.insert(speaker.stage.end(), chunk.samples.begin(), chunk.samples.end());
    } else {
      if (!speaker.resampler || speaker.resampler_rate != chunk.sample_rate_hz) {
        auto rs = audio::StreamResampler::create(
            audio::ResamplerParams{chunk.sample_rate_hz, audio::kRoomRateHz, 5});
        if (!rs) {
          return; // an impossible rate: the sentence stays silent (its total stays 0)
        }
        speaker.resampler.emplace(std::move(*rs));
        speaker.resampler_rate = chunk.sample_rate_hz;
      }
      speaker.resampler->process(chunk.samples, speaker.stage);
    }
    if (speaker.trimming) {
      if (!trim_leading_silence()) {
        return; // only silence so far: wait for more
      }
      speaker.sentence_samples = static_cast<int64_t>(speaker.stage.size() - speaker.stage_pos);
    } else {
      speaker.sentence_samples += static_cast<int64_t>(speaker.stage.size() - before);
    }
    drain_stage();
  }

  // Drops the staged near-silence before the first audible 5 ms (RMS at least -50 dBFS, the level
  // at which the agent counts audio as heard), keeping `keep_lead` of it. Returns whether audible
  // audio has arrived (trimming is then over).
  bool trim_leading_silence() {
    auto& stage = speaker.stage;
    const std::size_t available = stage.size() - speaker.stage_pos;
    const int16_t* base = stage.data() + speaker.stage_pos;
    std::size_t silent = available - available % kTrimWindow; // whole quiet windows so far
    bool found = false;
    for (std::size_t w = 0; w + kTrimWindow <= available; w += kTrimWindow) {
      double energy = 0;
      for (std::size_t i = w; i < w + kTrimWindow; ++i) {
        energy += static_cast<double>(base[i]) * base[i];
      }
      if (energy >= kAudibleRms * kAudibleRms * static_cast<double>(kTrimWindow)) {
        silent = w;
        found = true;
        break;
      }
    }
    const std::size_t drop = silent > speaker.keep_lead ? silent - speaker.keep_lead : 0;
    const auto begin = stage.begin() + static_cast<std::ptrdiff_t>(speaker.stage_pos);
    stage.erase(begin, begin + static_cast<std::ptrdiff_t>(drop));
    speaker.trimming = !found;
    return found;
  }

  // Pushes as much staged audio as fits. False when the reply was cut (the stage is dropped).
  bool drain_stage() {
    while (speaker.stage_pos < speaker.stage.size()) {
      const auto pushed =
          output.push(speaker.reply, speaker.index, speaker.cancel,
                      std::span<const int16_t>(speaker.stage).subspan(speaker.stage_pos));
      if (!pushed) {
        speaker.stage.clear();
        speaker.stage_pos = 0;
        return false;
      }
      if (*pushed == 0) {
        return true;
      }
      if (!speaker.first_audio) {
        speaker.first_audio = true;
        post_event(FirstAudioEvent{speaker.reply, WallClock::now()});
      }
      speaker.stage_pos += *pushed;
    }
    speaker.stage.clear();
    speaker.stage_pos = 0;
    return true;
  }

  void drain_stage_blocking() {
    while (drain_stage() && speaker.stage_pos < speaker.stage.size() && !speaker_cancelled()) {
      activity.wait_for_playout(Activity::speaker, kPlayoutPoll);
    }
  }

  // =============================== snapshot ===============================

  OrchestratorStats snapshot_stats() const {
    std::lock_guard lock(stats_mutex);
    OrchestratorStats s = stats_data;
    s.frames_dropped = frames_dropped.load();
    s.lane_exceptions = asr_lane.handler_exceptions() + llm_lane.handler_exceptions() +
                        speaker_lane.handler_exceptions();
    return s;
  }
};

// =============================== public API ===============================

Orchestrator::Orchestrator(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Orchestrator::~Orchestrator() {
  stop();
}

tl::expected<std::unique_ptr<Orchestrator>, BackendError>
Orchestrator::create(OrchestratorParams params, OrchestratorProviders providers) {
  auto config_error = [](std::string message) {
    return tl::unexpected(BackendError{ErrorKind::config, std::move(message), false, nullptr});
  };
  if (!providers.asr || !providers.llm || !providers.tts) {
    return config_error("the cascade needs an ASR, an LLM and a TTS provider");
  }
  if (params.playout_capacity_ms < 200 || params.lookahead_ms <= 0 ||
      params.lookahead_ms > params.playout_capacity_ms) {
    return config_error("playout capacity must be >= 200 ms and hold the look-ahead");
  }
  if (params.frame_queue_frames < 1 || params.asr_queue_frames < 1) {
    return config_error("frame queues need at least one slot");
  }
  auto segmenter = audio::VadSegmenter::create(params.vad);
  if (!segmenter) {
    return config_error("VAD: " + segmenter.error().message);
  }
  auto down = audio::FrameResampler::create(
      audio::ResamplerParams{audio::kRoomRateHz, audio::kSpeechRateHz, 5});
  if (!down) {
    return config_error("resampler: " + down.error());
  }
  std::vector<audio::PcmBuffer> fillers_48k;
  if (params.fillers) {
    for (const FillerClip& clip : params.fillers->clips()) {
      auto pcm = audio::resample_clip(clip.pcm, audio::kRoomRateHz);
      if (!pcm) {
        return config_error("filler " + clip.id + ": " + pcm.error());
      }
      fillers_48k.push_back(std::move(*pcm));
    }
  }
  auto impl = std::make_unique<Impl>(std::move(params), std::move(providers), std::move(*segmenter),
                                     std::move(*down), std::move(fillers_48k));
  return std::unique_ptr<Orchestrator>(new Orchestrator(std::move(impl)));
}

tl::expected<void, BackendError> Orchestrator::start(const conversation::BackendContext& context) {
  Impl& m = *impl_;
  if (m.started.load()) {
    return {};
  }
  if (m.stopped_once) {
    return tl::unexpected(BackendError{ErrorKind::internal,
                                       "the cascade backend cannot be restarted after stop()",
                                       false, nullptr});
  }
  m.context = context;
  const int64_t now = m.now_media();
  if (!m.params.greeting_text.empty()) {
    m.opening = Impl::Opening::scheduled;
    m.opening_is_greeting = true;
    m.opening_due_ms = now + m.params.greeting_delay_ms;
  } else if (m.params.opener_enabled) {
    m.opening = Impl::Opening::scheduled;
    m.opening_is_greeting = false;
    m.opening_due_ms = now + m.params.opener_delay_ms;
  }
  m.update_idle();
  m.asr_lane.start([&m](AsrCommand& c) { m.asr_handle(c); });
  m.llm_lane.start([&m](LlmCommand& c) { m.llm_handle(c); });
  m.speaker_lane.start([&m](SpeakerCommand& c) { m.speaker_handle(c); });
  m.started.store(true);
  m.worker = std::thread([&m] { m.run_worker(); });
  log::info_event("CASCADE_STARTED",
                  {{"asr", std::string(m.providers.asr->name())},
                   {"llm", std::string(m.providers.llm->name())},
                   {"llm_is_language_model", m.providers.llm->is_language_model()},
                   {"tts", std::string(m.providers.tts->name())},
                   {"persona", std::string(m.persona->id)},
                   {"fillers", m.params.fillers ? m.params.fillers->clips().size() : 0},
                   {"lockstep", m.sync}});
  return {};
}

void Orchestrator::stop() {
  Impl& m = *impl_;
  if (!m.started.exchange(false)) {
    return;
  }
  m.stopped_once = true;
  // The worker cancels everything in flight on its way out; then the lanes return promptly.
  m.inbox.stop();
  if (m.worker.joinable()) {
    m.worker.join();
  }
  m.asr_lane.stop();
  m.llm_lane.stop();
  m.speaker_lane.stop();
  const OrchestratorStats s = m.snapshot_stats();
  log::info_event("CASCADE_STATS", {{"user_turns", s.user_turns},
                                    {"merged_turns", s.merged_turns},
                                    {"max_queued_turns", s.max_queued_turns},
                                    {"replies_started", s.replies_started},
                                    {"replies_completed", s.replies_completed},
                                    {"replies_cut", s.replies_cut},
                                    {"barge_ins", s.barge_ins},
                                    {"fillers_played", s.fillers_played},
                                    {"greetings", s.greetings},
                                    {"openers", s.openers},
                                    {"openings_skipped", s.openings_skipped},
                                    {"apologies", s.apologies},
                                    {"asr_failures", s.asr_failures},
                                    {"llm_failures", s.llm_failures},
                                    {"tts_failures", s.tts_failures},
                                    {"watchdog_cancels", s.watchdog_cancels},
                                    {"frames_dropped", s.frames_dropped},
                                    {"asr_frames_dropped", s.asr_frames_dropped},
                                    {"lane_exceptions", s.lane_exceptions}});
}

void Orchestrator::on_room_frame(const audio::Frame& inbound_48k) {
  Impl& m = *impl_;
  PV_ASSERT_OWNER(m.clock_owner);
  if (!m.started.load(std::memory_order_relaxed) ||
      inbound_48k.sample_rate() != audio::kRoomRateHz) {
    return;
  }
  const int64_t now = m.now_media();
  if (m.last_media_ms < 0 || now != m.last_media_ms + audio::kFrameMs) {
    // First frame, or a gap (a fallback backend only hears the room while it is active).
    if (m.last_media_ms >= 0) {
      m.down.reset();
    }
    m.base_ms = now;
    m.produced16 = 0;
  }
  m.last_media_ms = now;
  m.down.push(inbound_48k);
  const auto arrived = WallClock::now();
  while (m.down.pop(m.frame16)) {
    const int64_t start_ms = m.base_ms + m.produced16 * 1000 / audio::kSpeechRateHz;
    m.produced16 += static_cast<int64_t>(kFrame16);
    if (!m.inbox.push_frame(start_ms, arrived, m.frame16.samples())) {
      m.frames_dropped.fetch_add(1, std::memory_order_relaxed);
    }
  }
  if (m.sync) {
    m.activity.wait_idle(arrived + milliseconds(m.params.sync_wait_ms));
  }
}

void Orchestrator::fill_agent_frame(audio::Frame& outbound_48k) {
  Impl& m = *impl_;
  PV_ASSERT_OWNER(m.clock_owner);
  m.output.pull(outbound_48k.samples());
  if (!m.allowed_clock.load(std::memory_order_relaxed)) {
    outbound_48k.clear_to_silence();
  }
  if (m.sync) {
    m.activity.kick();
  }
}

void Orchestrator::set_speaking_allowed(bool allowed) {
  Impl& m = *impl_;
  m.allowed_clock.store(allowed);
  m.inbox.post(AllowedEvent{allowed});
}

bool Orchestrator::idle() const {
  const Impl& m = *impl_;
  // Frames still in the ring do not count: the clock thread asks right after handing one over,
  // before the worker had a chance to take it (it is the room's silence after the script).
  return m.idle_flag.load() && !m.output.active();
}

void Orchestrator::on_reaction(const conversation::AudienceReaction& reaction) {
  Impl& m = *impl_;
  const auto kind = reaction_of(reaction.kind);
  if (!kind) {
    return;
  }
  const int amount = std::max(1, static_cast<int>(reaction.amount + 0.5));
  m.feedback.record(*kind, amount, reaction.media_ms, reaction.target);
}

bool Orchestrator::take_over_turn(std::shared_ptr<const conversation::UserUtterance> utterance) {
  Impl& m = *impl_;
  if (!m.started.load() || !utterance) {
    return false;
  }
  m.inbox.post(TakeOverEvent{std::move(utterance)});
  return true;
}

OrchestratorStats Orchestrator::stats() const {
  return impl_->snapshot_stats();
}

OrchestratorState Orchestrator::state() const {
  return static_cast<OrchestratorState>(impl_->state_value.load());
}

std::vector<MemoryTurn> Orchestrator::memory() const {
  return impl_->memory.snapshot();
}

} // namespace pv::cascade
