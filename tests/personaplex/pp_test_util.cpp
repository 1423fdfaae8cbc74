#include "pp_test_util.hpp"

#include "audio/mixer.hpp"
#include "audio/resampler.hpp"
#include "cascade/tts/flite_tts.hpp"
#include "personaplex/chat_request.hpp"

#include <random>
#include <stdexcept>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <gtest/gtest.h>

namespace pv::personaplex::test {

std::vector<int16_t> speak(const std::string& text, int rate_hz) {
  auto tts = cascade::FliteTts::create({"kal16", 100});
  if (!tts) {
    throw std::runtime_error("flite: " + tts.error().message);
  }
  audio::PcmBuffer speech{cascade::FliteTts::kSampleRateHz, {}};
  cascade::TtsRequest request;
  request.text = text;
  auto result = (*tts)->synthesize(request, [&](const cascade::TtsChunk& chunk) {
    speech.samples.insert(speech.samples.end(), chunk.samples.begin(), chunk.samples.end());
  });
  if (!result) {
    throw std::runtime_error("flite: " + result.error().message);
  }
  auto resampled = audio::resample_clip(speech, rate_hz);
  if (!resampled) {
    throw std::runtime_error("resample: " + resampled.error());
  }
  return std::move(resampled->samples);
}

std::vector<int16_t> silence(int rate_hz, int ms) {
  return std::vector<int16_t>(static_cast<std::size_t>(audio::samples_for_ms(rate_hz, ms)), 0);
}

void append(std::vector<int16_t>& to, const std::vector<int16_t>& more) {
  to.insert(to.end(), more.begin(), more.end());
}

sim::SimParams fast_sim_params() {
  sim::SimParams params;
  params.port = 0;
  params.prompt_step_ms = 1;
  params.voices.default_frames = 4;
  return params;
}

std::unique_ptr<sim::SimServer> start_sim(const sim::SimParams& params) {
  auto server = sim::SimServer::create(params);
  if (!server) {
    ADD_FAILURE() << sim::to_string(server.error().kind) << ": " << server.error().message;
    return nullptr;
  }
  return std::move(*server);
}

std::string chat_url(const sim::SimServer& server, const std::string& text_prompt,
                     const std::string& voice, std::optional<int64_t> seed) {
  ChatRequestParams params;
  params.endpoint = *chat_endpoint(server.url("/"));
  params.voice_file = voice;
  params.seed = seed;
  params.prompt = fixed_prompt_builder(text_prompt);
  auto request = build_chat_request(params, {});
  EXPECT_TRUE(request.has_value());
  return request ? request->url : std::string();
}

SessionParams session_params(const std::string& url) {
  SessionParams params;
  params.url = url;
  params.connect_timeout_ms = 5000;
  params.handshake_timeout_ms = 15000;
  params.no_audio_timeout_ms = 3000;
  params.close_timeout_ms = 2000;
  params.playout_max_ms = 220;
  params.playout_prebuffer_ms = 120;
  params.label = "test";
  return params;
}

bool wait_for(const std::function<bool()>& pred, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!pred()) {
    if (std::chrono::steady_clock::now() >= deadline) {
      return pred();
    }
    std::this_thread::sleep_for(5ms);
  }
  return true;
}

uint16_t unused_port() {
  boost::asio::io_context io;
  boost::asio::ip::tcp::acceptor acceptor(
      io, boost::asio::ip::tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), 0));
  const uint16_t port = acceptor.local_endpoint().port();
  acceptor.close();
  return port;
}

SessionDriver::SessionDriver(std::shared_ptr<ClientSession> session,
                             std::vector<int16_t> source_24k, std::chrono::microseconds period)
    : session_(std::move(session)), source_(std::move(source_24k)) {
  thread_ = std::thread([this, period] { run(period); });
}

SessionDriver::~SessionDriver() {
  stop();
}

void SessionDriver::stop() {
  stop_.store(true);
  if (thread_.joinable()) {
    thread_.join();
  }
}

std::vector<int16_t> SessionDriver::output() const {
  std::lock_guard lock(mutex_);
  return output_;
}

void SessionDriver::run(std::chrono::microseconds period) {
  std::vector<int16_t> frame(kSendFrameSamples, 0);
  std::vector<int16_t> out(static_cast<std::size_t>(audio::samples_per_frame(audio::kRoomRateHz)));
  std::size_t position = 0;
  auto next = std::chrono::steady_clock::now();
  while (!stop_.load()) {
    std::fill(frame.begin(), frame.end(), 0);
    if (session_->handshake_done()) {
      for (std::size_t i = 0; i < frame.size() && position < source_.size(); ++i) {
        frame[i] = source_[position++];
      }
    }
    if (session_->send_frame_24k(frame) == ClientSession::SendResult::sent) {
      sent_.fetch_add(1);
    }
    session_->playout().pull(out);
    {
      std::lock_guard lock(mutex_);
      output_.insert(output_.end(), out.begin(), out.end());
    }
    ticks_.fetch_add(1);
    next += period;
    std::this_thread::sleep_until(next);
  }
}

BackendOptions backend_options(const sim::SimServer& server, const std::string& text_prompt) {
  BackendOptions options;
  options.endpoint = *chat_endpoint(server.url("/"));
  options.voice_file = "NATF0.pt";
  options.prompt = fixed_prompt_builder(text_prompt);
  options.connect_timeout_ms = 5000;
  options.handshake_timeout_ms = 15000;
  options.no_audio_timeout_ms = 3000;
  options.close_timeout_ms = 2000;
  options.reconnect_min_ms = 100;
  options.reconnect_max_ms = 2000;
  options.backoff_seed = 1;
  return options;
}

void RecordingObserver::add(std::string event) {
  events_.push_back(std::move(event));
}

void RecordingObserver::on_user_speech_start(int64_t) {
  std::lock_guard lock(mutex_);
  add("speech_start");
}

void RecordingObserver::on_user_turn_end(uint64_t turn_id, int64_t) {
  std::lock_guard lock(mutex_);
  add("turn_end:" + std::to_string(turn_id));
}

void RecordingObserver::on_barge_in(uint64_t turn_id, int64_t, double) {
  std::lock_guard lock(mutex_);
  add("barge_in:" + std::to_string(turn_id));
}

void RecordingObserver::on_turn_complete(conversation::TurnReport report) {
  std::lock_guard lock(mutex_);
  add("turn:" + std::to_string(report.turn_id));
  turns_.push_back(std::move(report));
}

void RecordingObserver::on_error(const conversation::BackendError& error) {
  std::lock_guard lock(mutex_);
  add(std::string("error:") + conversation::to_string(error.kind));
  errors_.push_back(error);
  error_times_.push_back(std::chrono::steady_clock::now());
}

void RecordingObserver::on_backend_health(bool healthy) {
  std::lock_guard lock(mutex_);
  add(healthy ? "health:1" : "health:0");
  health_.push_back(healthy);
}

std::vector<std::string> RecordingObserver::events() const {
  std::lock_guard lock(mutex_);
  return events_;
}

std::vector<conversation::TurnReport> RecordingObserver::turns() const {
  std::lock_guard lock(mutex_);
  return turns_;
}

std::vector<conversation::BackendError> RecordingObserver::errors() const {
  std::lock_guard lock(mutex_);
  return errors_;
}

std::vector<bool> RecordingObserver::health() const {
  std::lock_guard lock(mutex_);
  return health_;
}

std::vector<std::chrono::steady_clock::time_point> RecordingObserver::error_times() const {
  std::lock_guard lock(mutex_);
  return error_times_;
}

RoomDriver::RoomDriver(std::vector<int16_t> input_48k) : input_(std::move(input_48k)) {}

RoomDriver::~RoomDriver() {
  stop();
}

conversation::BackendContext RoomDriver::context(conversation::BackendObserver& observer) {
  conversation::BackendContext context;
  context.observer = &observer;
  context.media_time_ms = [this] {
    return media_ms();
  };
  return context;
}

void RoomDriver::start(conversation::ConversationBackend& backend,
                       std::chrono::microseconds period) {
  thread_ = std::thread([this, &backend, period] {
    audio::Frame in(audio::kRoomRateHz);
    audio::Frame out(audio::kRoomRateHz);
    std::size_t position = 0;
    auto next = std::chrono::steady_clock::now();
    while (!stop_.load()) {
      in.clear_to_silence();
      for (auto& sample : in.samples()) {
        sample = position < input_.size() ? input_[position] : int16_t{0};
        ++position;
      }
      out.clear_to_silence();
      backend.on_room_frame(in);
      backend.fill_agent_frame(out);
      {
        std::lock_guard lock(mutex_);
        output_.insert(output_.end(), out.samples().begin(), out.samples().end());
      }
      ticks_.fetch_add(1);
      next += period;
      std::this_thread::sleep_until(next);
    }
  });
}

void RoomDriver::stop() {
  stop_.store(true);
  if (thread_.joinable()) {
    thread_.join();
  }
}

std::vector<int16_t> RoomDriver::output() const {
  std::lock_guard lock(mutex_);
  return output_;
}

double level_dbfs(std::span<const int16_t> samples) {
  return audio::rms_dbfs(samples);
}

TempDir::TempDir() {
  std::random_device rd;
  path = std::filesystem::temp_directory_path() /
         ("pv-personaplex-" + std::to_string(rd()) + std::to_string(rd()));
  std::filesystem::create_directories(path);
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path, ec);
}

} // namespace pv::personaplex::test
