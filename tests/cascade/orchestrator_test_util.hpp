#pragma once
// Helpers for the orchestrator tests: a room driver (the clock thread), an observer that records
// everything, and providers the tests control (our own interfaces, so in-test implementations are
// fine): a scripted LLM, a tone TTS with exact durations, fault injection around real providers.

#include "audio/resampler.hpp"
#include "cascade/asr/pocketsphinx_asr.hpp"
#include "cascade/orchestrator.hpp"
#include "cascade_test_util.hpp"
#include "support/gate.hpp"

#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

namespace pv::cascade::testing {

using namespace std::chrono_literals;

inline std::string grammar_path() {
  return std::string(PV_TESTDATA_DIR) + "/cascade/sentences.gram";
}

// One pocketsphinx decoder (JSGF test grammar) shared by the tests: loading costs ~0.4 s.
inline std::shared_ptr<AsrProvider> grammar_asr() {
  static std::shared_ptr<AsrProvider> asr = [] {
    PocketsphinxParams params;
    params.grammar = grammar_path();
    auto created = PocketsphinxAsr::create(params);
    EXPECT_TRUE(created.has_value()) << (created ? "" : created.error().message);
    return std::shared_ptr<AsrProvider>(std::move(*created));
  }();
  return asr;
}

inline std::shared_ptr<TtsProvider> shared_flite() {
  static std::shared_ptr<TtsProvider> tts = [] {
    auto created = FliteTts::create({});
    EXPECT_TRUE(created.has_value());
    return std::shared_ptr<TtsProvider>(std::move(*created));
  }();
  return tts;
}

// A Gate that a waiting provider double also leaves when its call is cancelled.
class Latch : public pv::test::Gate {
public:
  // Waits until opened, `cancel` is set, or `bound`; true only if opened.
  bool wait(const CancelToken& cancel, std::chrono::milliseconds bound = 20s) {
    const auto deadline = std::chrono::steady_clock::now() + bound;
    while (!cancel.cancelled() && std::chrono::steady_clock::now() < deadline) {
      if (wait_for(2ms)) {
        return true;
      }
    }
    return is_open();
  }
};

enum class Fault {
  none,
  fail,  // returns an error at once
  stall, // blocks, ignoring its deadlines, until cancelled (then returns `cancelled`)
  gate,  // blocks until the test opens the gate (or cancel)
};

// ---------------------------------------------------------------------------------------------
// LLM: replies[i] for call i (the last one repeats), streamed word by word.
class ScriptedLlm final : public LlmProvider {
public:
  struct Call {
    std::vector<ChatMessage> messages;
    LlmPurpose purpose = LlmPurpose::reply;
    int max_tokens = 0;
    bool saw_cancel = false;
    bool returned = false;
  };

  explicit ScriptedLlm(std::vector<std::string> replies) : replies_(std::move(replies)) {}

  std::string_view name() const override { return "scripted"; }
  bool is_language_model() const override { return false; }

  void set_fault(int call, Fault fault) {
    std::lock_guard lock(mutex_);
    faults_[call] = fault;
  }
  // Call `call` emits `pieces` pieces, then waits for the gate (or cancel) before the rest.
  void set_stall_after(int call, int pieces) {
    std::lock_guard lock(mutex_);
    stall_after_[call] = pieces;
  }
  void set_piece_delay(std::chrono::milliseconds delay) { piece_delay_ = delay; }
  Latch& gate() { return gate_; }

  tl::expected<LlmResult, ProviderError> generate(const LlmRequest& request,
                                                  const TokenSink& sink) override {
    std::size_t index = 0;
    Fault fault = Fault::none;
    std::string reply;
    int stall_after = -1;
    {
      std::lock_guard lock(mutex_);
      index = calls_.size();
      calls_.push_back(Call{request.messages, request.purpose, request.max_tokens, false, false});
      if (auto it = faults_.find(static_cast<int>(index)); it != faults_.end()) {
        fault = it->second;
      }
      if (auto it = stall_after_.find(static_cast<int>(index)); it != stall_after_.end()) {
        stall_after = it->second;
      }
      reply = replies_.empty() ? std::string() : replies_[std::min(index, replies_.size() - 1)];
    }
    auto finish = [&](tl::expected<LlmResult, ProviderError> r) {
      std::lock_guard lock(mutex_);
      calls_[index].saw_cancel = request.cancel.cancelled();
      calls_[index].returned = true;
      return r;
    };
    if (fault == Fault::fail) {
      return finish(tl::unexpected(make_error(ProviderErrorKind::http, "HTTP 500", 500)));
    }
    if (fault == Fault::stall) {
      Latch never;
      never.wait(request.cancel, 60s);
      return finish(tl::unexpected(make_error(ProviderErrorKind::cancelled, "cancelled")));
    }
    if (fault == Fault::gate && !gate_.wait(request.cancel)) {
      return finish(tl::unexpected(make_error(ProviderErrorKind::cancelled, "cancelled")));
    }
    LlmResult result;
    std::size_t pos = 0;
    while (pos < reply.size()) {
      std::size_t next = reply.find(' ', pos + 1);
      if (next == std::string::npos) {
        next = reply.size();
      }
      if (stall_after >= 0 && result.pieces == stall_after && !gate_.wait(request.cancel)) {
        return finish(tl::unexpected(make_error(ProviderErrorKind::cancelled, "cancelled")));
      }
      if (request.cancel.cancelled()) {
        return finish(tl::unexpected(make_error(ProviderErrorKind::cancelled, "cancelled")));
      }
      const std::string piece = reply.substr(pos, next - pos);
      result.text += piece;
      ++result.pieces;
      if (!sink(piece)) {
        result.finish = FinishReason::stopped_by_caller;
        return finish(result);
      }
      pos = next;
      if (piece_delay_.count() > 0) {
        std::this_thread::sleep_for(piece_delay_);
      }
    }
    return finish(result);
  }

  std::vector<Call> calls() const {
    std::lock_guard lock(mutex_);
    return calls_;
  }

private:
  mutable std::mutex mutex_;
  std::vector<std::string> replies_;
  std::map<int, Fault> faults_;
  std::map<int, int> stall_after_;
  std::vector<Call> calls_;
  std::chrono::milliseconds piece_delay_{0};
  Latch gate_;
};

// ---------------------------------------------------------------------------------------------
// TTS: a sine of `ms_per_char` per character at `rate_hz` (exact, known durations), in 100 ms
// chunks, or the real flite when `speech` is set. Faults per call.
class TestTts final : public TtsProvider {
public:
  struct Call {
    std::string text;
    bool saw_cancel = false;
  };
  int rate_hz = 24000;
  int ms_per_char = 40;
  double tone_hz = 300;
  bool speech = false; // delegate to flite

  std::string_view name() const override { return "test-tts"; }
  void set_fault(int call, Fault fault) {
    std::lock_guard lock(mutex_);
    faults_[call] = fault;
  }
  Latch& gate() { return gate_; }

  int64_t samples_for(const std::string& text) const {
    return static_cast<int64_t>(text.size()) * ms_per_char * rate_hz / 1000;
  }

  tl::expected<TtsResult, ProviderError> synthesize(const TtsRequest& request,
                                                    const TtsChunkSink& sink) override {
    std::size_t index = 0;
    Fault fault = Fault::none;
    {
      std::lock_guard lock(mutex_);
      index = calls_.size();
      calls_.push_back(Call{request.text, false});
      if (auto it = faults_.find(static_cast<int>(index)); it != faults_.end()) {
        fault = it->second;
      }
    }
    auto cancelled = [&] {
      std::lock_guard lock(mutex_);
      calls_[index].saw_cancel = true;
      return tl::unexpected(make_error(ProviderErrorKind::cancelled, "cancelled"));
    };
    if (fault == Fault::fail) {
      return tl::unexpected(make_error(ProviderErrorKind::auth, "HTTP 401", 401));
    }
    if (fault == Fault::stall) {
      Latch never;
      never.wait(request.cancel, 60s);
      return cancelled();
    }
    if (fault == Fault::gate && !gate_.wait(request.cancel)) {
      return cancelled();
    }
    if (speech) {
      return shared_flite()->synthesize(request, sink);
    }
    const int64_t total = samples_for(request.text);
    const int64_t chunk = rate_hz / 10;
    std::vector<int16_t> buf;
    TtsResult result;
    result.sample_rate_hz = rate_hz;
    for (int64_t pos = 0; pos < total; pos += chunk) {
      if (request.cancel.cancelled()) {
        return cancelled();
      }
      const int64_t n = std::min(chunk, total - pos);
      buf.resize(static_cast<std::size_t>(n));
      for (int64_t i = 0; i < n; ++i) {
        buf[static_cast<std::size_t>(i)] = static_cast<int16_t>(std::lround(
            8000.0 * std::sin(2 * M_PI * tone_hz * static_cast<double>(pos + i) / rate_hz)));
      }
      sink(TtsChunk{buf, rate_hz, pos + n >= total});
      result.samples += n;
      ++result.chunks;
    }
    return result;
  }

  std::vector<Call> calls() const {
    std::lock_guard lock(mutex_);
    return calls_;
  }

private:
  mutable std::mutex mutex_;
  std::map<int, Fault> faults_;
  std::vector<Call> calls_;
  Latch gate_;
};

// ---------------------------------------------------------------------------------------------
// ASR: the shared pocketsphinx (grammar), with a fault on finish() of chosen utterances.
class FaultyAsr final : public AsrProvider {
public:
  explicit FaultyAsr(std::shared_ptr<AsrProvider> inner) : inner_(std::move(inner)) {}
  std::string_view name() const override { return "faulty"; }
  AsrCapabilities capabilities() const override { return inner_->capabilities(); }
  void set_fault(int utterance, Fault fault) {
    std::lock_guard lock(mutex_);
    faults_[utterance] = fault;
  }
  int utterances() const {
    std::lock_guard lock(mutex_);
    return started_;
  }

  tl::expected<std::unique_ptr<AsrSession>, ProviderError>
  start_utterance(const AsrUtteranceParams& params) override {
    auto session = inner_->start_utterance(params);
    if (!session) {
      return tl::unexpected(session.error());
    }
    Fault fault = Fault::none;
    {
      std::lock_guard lock(mutex_);
      if (auto it = faults_.find(started_); it != faults_.end()) {
        fault = it->second;
      }
      ++started_;
    }
    return std::unique_ptr<AsrSession>(new Session(std::move(*session), fault, params.cancel));
  }

private:
  class Session final : public AsrSession {
  public:
    Session(std::unique_ptr<AsrSession> inner, Fault fault, CancelToken cancel)
        : inner_(std::move(inner)), fault_(fault), cancel_(std::move(cancel)) {}
    tl::expected<void, ProviderError> push(std::span<const int16_t> pcm) override {
      return inner_->push(pcm);
    }
    tl::expected<Transcript, ProviderError> finish() override {
      if (fault_ == Fault::fail) {
        inner_->cancel();
        return tl::unexpected(make_error(ProviderErrorKind::disconnected, "connection reset"));
      }
      if (fault_ == Fault::stall) {
        Latch never;
        never.wait(cancel_, 60s);
        inner_->cancel();
        return tl::unexpected(make_error(ProviderErrorKind::cancelled, "cancelled"));
      }
      return inner_->finish();
    }
    void cancel() override { inner_->cancel(); }

  private:
    std::unique_ptr<AsrSession> inner_;
    Fault fault_;
    CancelToken cancel_;
  };

  std::shared_ptr<AsrProvider> inner_;
  mutable std::mutex mutex_;
  std::map<int, Fault> faults_;
  int started_ = 0;
};

// ---------------------------------------------------------------------------------------------
// Records every observer call (any thread).
class Recorder final : public conversation::BackendObserver {
public:
  struct BargeIn {
    uint64_t turn_id;
    int64_t media_ms;
    double stop_latency_ms;
    int64_t room_ms; // the room's clock when the callback came
  };
  std::function<int64_t()> clock; // set by TestRoom
  void on_user_speech_start(int64_t media_ms) override {
    {
      std::lock_guard lock(mutex_);
      sequence_.push_back("speech_start");
      (void)media_ms;
    }
    if (speech_start_hook) {
      speech_start_hook(); // runs on the backend's thread
    }
  }
  std::function<void()> speech_start_hook;
  void on_user_turn_end(uint64_t turn_id, int64_t speech_end_media_ms) override {
    std::lock_guard lock(mutex_);
    sequence_.push_back("turn_end " + std::to_string(turn_id));
    turn_ends_.emplace_back(turn_id, speech_end_media_ms);
  }
  void on_barge_in(uint64_t turn_id, int64_t media_ms, double stop_latency_ms) override {
    std::lock_guard lock(mutex_);
    sequence_.push_back("barge_in " + std::to_string(turn_id));
    barge_ins_.push_back({turn_id, media_ms, stop_latency_ms, clock ? clock() : -1});
  }
  void on_turn_complete(conversation::TurnReport report) override {
    std::lock_guard lock(mutex_);
    sequence_.push_back("complete " + std::to_string(report.turn_id));
    reports_.push_back(std::move(report));
  }
  void on_error(const conversation::BackendError& error) override {
    std::lock_guard lock(mutex_);
    sequence_.push_back(std::string("error ") + conversation::to_string(error.kind));
    errors_.push_back(error);
  }

  std::vector<conversation::TurnReport> reports() const {
    std::lock_guard lock(mutex_);
    return reports_;
  }
  std::vector<conversation::BackendError> errors() const {
    std::lock_guard lock(mutex_);
    return errors_;
  }
  std::vector<BargeIn> barge_ins() const {
    std::lock_guard lock(mutex_);
    return barge_ins_;
  }
  std::vector<std::pair<uint64_t, int64_t>> turn_ends() const {
    std::lock_guard lock(mutex_);
    return turn_ends_;
  }
  std::vector<std::string> sequence() const {
    std::lock_guard lock(mutex_);
    return sequence_;
  }
  std::size_t report_count() const {
    std::lock_guard lock(mutex_);
    return reports_.size();
  }

private:
  mutable std::mutex mutex_;
  std::vector<std::string> sequence_;
  std::vector<std::pair<uint64_t, int64_t>> turn_ends_;
  std::vector<BargeIn> barge_ins_;
  std::vector<conversation::TurnReport> reports_;
  std::vector<conversation::BackendError> errors_;
};

// ---------------------------------------------------------------------------------------------
// Plays the room clock: one tick = on_room_frame + fill_agent_frame, media time = tick * 20 ms.
class TestRoom {
public:
  TestRoom(conversation::ConversationBackend& backend, Recorder& recorder)
      : backend_(backend), recorder_(recorder) {}
  ~TestRoom() { backend_.stop(); }

  void start() {
    recorder_.clock = [this] {
      return media_ms_.load();
    };
    conversation::BackendContext context;
    context.observer = &recorder_;
    context.media_time_ms = [this] {
      return media_ms_.load();
    };
    auto started = backend_.start(context);
    ASSERT_TRUE(started.has_value());
  }

  // One tick with `in` (48 kHz, 960 samples) or silence. Returns whether the agent's frame had
  // any non-zero sample.
  bool tick(std::span<const int16_t> in = {}) {
    audio::Frame inbound(audio::kRoomRateHz);
    if (!in.empty()) {
      std::copy_n(in.data(), std::min(in.size(), inbound.size()), inbound.samples().data());
    }
    backend_.on_room_frame(inbound);
    audio::Frame outbound(audio::kRoomRateHz);
    backend_.fill_agent_frame(outbound);
    output_.insert(output_.end(), outbound.samples().begin(), outbound.samples().end());
    media_ms_.fetch_add(audio::kFrameMs);
    if (realtime_) {
      std::this_thread::sleep_for(20ms);
    }
    return std::any_of(outbound.samples().begin(), outbound.samples().end(),
                       [](int16_t s) { return s != 0; });
  }

  // The user says `pcm` (any rate), tick by tick; `on_tick` (if set) runs after each tick.
  void say(const audio::PcmBuffer& pcm, const std::function<void()>& on_tick = {}) {
    auto pcm48 = audio::resample_clip(pcm, audio::kRoomRateHz);
    ASSERT_TRUE(pcm48.has_value());
    const auto& s = pcm48->samples;
    for (std::size_t pos = 0; pos < s.size(); pos += 960) {
      std::array<int16_t, 960> frame{};
      std::copy_n(s.data() + pos, std::min<std::size_t>(960, s.size() - pos), frame.data());
      tick(frame);
      if (on_tick) {
        on_tick();
      }
    }
  }

  void silence(int ms) {
    for (int t = 0; t < ms; t += audio::kFrameMs) {
      tick();
    }
  }

  // Ticks silence until `done()` or `max_ms` of media time; returns done().
  bool run_until(const std::function<bool()>& done, int max_ms) {
    for (int t = 0; t < max_ms && !done(); t += audio::kFrameMs) {
      tick();
    }
    return done();
  }

  void set_realtime(bool realtime) { realtime_ = realtime; }
  int64_t media_ms() const { return media_ms_.load(); }
  const std::vector<int16_t>& output() const { return output_; }
  // Frames of agent output with any non-zero sample.
  int audible_frames(std::size_t from_sample = 0) const {
    int n = 0;
    for (std::size_t f = from_sample / 960; (f + 1) * 960 <= output_.size(); ++f) {
      if (std::any_of(output_.begin() + static_cast<std::ptrdiff_t>(f * 960),
                      output_.begin() + static_cast<std::ptrdiff_t>((f + 1) * 960),
                      [](int16_t s) { return s != 0; })) {
        ++n;
      }
    }
    return n;
  }

private:
  conversation::ConversationBackend& backend_;
  Recorder& recorder_;
  std::atomic<int64_t> media_ms_{0};
  std::vector<int16_t> output_;
  bool realtime_ = false;
};

// Defaults for the tests: lockstep (each tick waits for the work it caused, deterministic order).
inline OrchestratorParams test_params(int sync_wait_ms = 3000) {
  OrchestratorParams p;
  p.sync_wait_ms = sync_wait_ms;
  p.opener_enabled = false;
  p.watchdog_grace = 200ms;
  return p;
}

inline audio::PcmBuffer user_says(const std::string& text) {
  return speak(text);
}

} // namespace pv::cascade::testing
