#include "pp_test_util.hpp"

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
