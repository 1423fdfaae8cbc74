#include "sim_test_util.hpp"

#include "audio/resampler.hpp"
#include "cascade/tts/flite_tts.hpp"

#include <cmath>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <future>
#include <mutex>
#include <stdexcept>
#include <thread>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>

namespace pv::sim::test {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;
using error_code = boost::system::error_code;

struct RawWsClient::Runner {
  asio::io_context io;
  asio::executor_work_guard<asio::io_context::executor_type> guard{io.get_executor()};
  std::thread thread{[this] {
    io.run();
  }};
};

// Records shared with the test thread (under mutex); the rest is touched on the io thread only.
struct RawWsClient::Impl : std::enable_shared_from_this<RawWsClient::Impl> {
  virtual ~Impl() = default;
  virtual void start_connect(std::shared_ptr<std::promise<UpgradeResult>> done) = 0;
  virtual void do_send(std::vector<uint8_t> bytes, bool binary) = 0;
  virtual void do_ping(std::string payload) = 0;
  virtual void do_close(uint16_t code) = 0;
  virtual void do_drop() = 0;

  template <class Pred>
  bool wait(Pred pred, std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex);
    return cv.wait_for(lock, timeout, pred);
  }
  void record_end(bool close_frame, int code, std::string error) {
    {
      std::lock_guard lock(mutex);
      if (end.ended) {
        return;
      }
      end.ended = true;
      end.close_frame = close_frame;
      end.close_code = code;
      end.error = std::move(error);
    }
    cv.notify_all();
  }

  RawWsOptions options;
  mutable std::mutex mutex;
  std::condition_variable cv;
  std::vector<ReceivedMessage> messages;
  ConnectionEnd end;
  int pongs = 0;
  std::size_t sent = 0;
};

namespace {

bool is_tcp_end(const error_code& ec) {
  return ec == asio::error::eof || ec == asio::error::connection_reset ||
         ec == asio::error::broken_pipe || ec == asio::ssl::error::stream_truncated ||
         ec == beast::http::error::end_of_stream || ec == asio::error::connection_aborted;
}

template <class Ws>
class ClientImpl final : public RawWsClient::Impl {
public:
  ClientImpl(asio::io_context& io, RawWsOptions opts, std::shared_ptr<asio::ssl::context> ssl)
      : io_(io), ssl_(std::move(ssl)), ws_(make(io, ssl_.get())) {
    options = std::move(opts);
  }

  void start_connect(std::shared_ptr<std::promise<UpgradeResult>> done) override {
    done_ = std::move(done);
    auto self = std::static_pointer_cast<ClientImpl>(shared_from_this());
    beast::get_lowest_layer(ws_).expires_after(std::chrono::seconds(30));
    beast::get_lowest_layer(ws_).async_connect(
        tcp::endpoint(asio::ip::make_address("127.0.0.1"), options.port),
        [self](const error_code& ec) { self->on_connect(ec); });
  }

  void do_send(std::vector<uint8_t> bytes, bool binary) override {
    out_.emplace_back(std::move(bytes), binary);
    write_next();
  }

  void do_ping(std::string payload) override {
    ping_payload_ = websocket::ping_data(payload.c_str());
    auto self = std::static_pointer_cast<ClientImpl>(shared_from_this());
    ws_.async_ping(ping_payload_, [self](const error_code&) {});
  }

  void do_close(uint16_t code) override {
    if (closing_ || !open_) {
      return;
    }
    closing_ = true;
    close_code_ = code;
    if (!writing_) {
      start_close();
    }
  }

  void do_drop() override {
    dropped_ = true;
    error_code ignored;
    beast::get_lowest_layer(ws_).socket().shutdown(tcp::socket::shutdown_both, ignored);
    beast::get_lowest_layer(ws_).close();
    record_end(false, 1006, "dropped by the test");
  }

private:
  static Ws make(asio::io_context& io, asio::ssl::context* ssl) {
    if constexpr (std::is_same_v<Ws, websocket::stream<beast::tcp_stream>>) {
      (void)ssl;
      return Ws(io);
    } else {
      return Ws(io, *ssl);
    }
  }

  void fail_connect(std::string error) {
    UpgradeResult result;
    result.error = std::move(error);
    done_->set_value(result);
  }

  void on_connect(const error_code& ec) {
    if (ec) {
      fail_connect("connect: " + ec.message());
      return;
    }
    // Without it, Nagle + delayed ACK hold each small message back ~40 ms behind the previous.
    error_code ignored;
    beast::get_lowest_layer(ws_).socket().set_option(tcp::no_delay(true), ignored);
    auto self = std::static_pointer_cast<ClientImpl>(shared_from_this());
    if constexpr (std::is_same_v<Ws, websocket::stream<beast::tcp_stream>>) {
      handshake();
    } else {
      auto& tls = ws_.next_layer();
      tls.set_verify_mode(asio::ssl::verify_peer);
      tls.set_verify_callback(asio::ssl::host_name_verification("localhost"));
      SSL_set_tlsext_host_name(tls.native_handle(), "localhost");
      tls.async_handshake(asio::ssl::stream_base::client, [self](const error_code& tls_ec) {
        if (tls_ec) {
          self->fail_connect("tls: " + tls_ec.message());
          return;
        }
        self->handshake();
      });
    }
  }

  void handshake() {
    auto self = std::static_pointer_cast<ClientImpl>(shared_from_this());
    ws_.async_handshake(response_, "localhost:" + std::to_string(options.port), options.target,
                        [self](const error_code& ec) { self->on_handshake(ec); });
  }

  void on_handshake(const error_code& ec) {
    UpgradeResult result;
    result.http_status = static_cast<int>(response_.result_int());
    if (auto it = response_.find("Retry-After"); it != response_.end()) {
      result.retry_after = std::string(it->value());
    }
    result.body = response_.body();
    if (ec) {
      if (result.http_status == 0) {
        result.error = "upgrade: " + ec.message();
      }
      done_->set_value(result);
      return;
    }
    beast::get_lowest_layer(ws_).expires_never();
    ws_.binary(true);
    ws_.control_callback([this](websocket::frame_type kind, beast::string_view) {
      if (kind == websocket::frame_type::pong) {
        {
          std::lock_guard lock(mutex);
          ++pongs;
        }
        cv.notify_all();
      }
    });
    open_ = true;
    result.ok = true;
    done_->set_value(result);
    read_next();
    write_next();
  }

  void read_next() {
    auto self = std::static_pointer_cast<ClientImpl>(shared_from_this());
    ws_.async_read(buffer_, [self](const error_code& ec, std::size_t) { self->on_read(ec); });
  }

  void on_read(const error_code& ec) {
    if (ec) {
      if (ec == websocket::error::closed) {
        record_end(true, ws_.reason().code, {});
      } else if (dropped_) {
        record_end(false, 1006, "dropped by the test");
      } else if (closing_ && ec == asio::error::operation_aborted) {
        return; // our close handshake reports
      } else {
        record_end(false, 1006, (is_tcp_end(ec) ? "tcp end: " : "read error: ") + ec.message());
      }
      return;
    }
    ReceivedMessage message;
    message.binary = ws_.got_binary();
    const auto data = buffer_.cdata();
    const auto* bytes = static_cast<const uint8_t*>(data.data());
    message.bytes.assign(bytes, bytes + data.size());
    message.at = std::chrono::steady_clock::now();
    buffer_.consume(buffer_.size());
    {
      std::lock_guard lock(mutex);
      messages.push_back(std::move(message));
    }
    cv.notify_all();
    read_next();
  }

  void write_next() {
    if (!open_ || writing_ || out_.empty() || dropped_) {
      if (!writing_ && out_.empty() && closing_ && !close_started_) {
        start_close();
      }
      return;
    }
    writing_ = true;
    ws_.binary(out_.front().second);
    auto self = std::static_pointer_cast<ClientImpl>(shared_from_this());
    ws_.async_write(asio::buffer(out_.front().first), [self](const error_code& ec, std::size_t) {
      self->writing_ = false;
      self->out_.pop_front();
      if (!ec) {
        {
          std::lock_guard lock(self->mutex);
          ++self->sent;
        }
        self->cv.notify_all();
      }
      self->write_next();
    });
  }

  void start_close() {
    if (close_started_) {
      return;
    }
    close_started_ = true;
    auto self = std::static_pointer_cast<ClientImpl>(shared_from_this());
    ws_.async_close(websocket::close_reason(close_code_), [self](const error_code& ec) {
      const bool frame = self->ws_.reason().code != websocket::close_code::none;
      self->record_end(frame, frame ? self->ws_.reason().code : 1006,
                       ec ? "close: " + ec.message() : std::string());
    });
  }

  asio::io_context& io_;
  std::shared_ptr<asio::ssl::context> ssl_;
  Ws ws_;
  std::shared_ptr<std::promise<UpgradeResult>> done_;
  websocket::response_type response_;
  beast::flat_buffer buffer_;
  std::deque<std::pair<std::vector<uint8_t>, bool>> out_;
  bool open_ = false;
  bool writing_ = false;
  bool closing_ = false;
  bool close_started_ = false;
  bool dropped_ = false;
  uint16_t close_code_ = 1000;
  websocket::ping_data ping_payload_;
};

} // namespace

RawWsClient::RawWsClient(RawWsOptions options) : runner_(std::make_unique<Runner>()) {
  if (options.tls) {
    auto ssl = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_client);
    ssl->load_verify_file(options.ca_file);
    impl_ = std::make_shared<ClientImpl<websocket::stream<beast::ssl_stream<beast::tcp_stream>>>>(
        runner_->io, std::move(options), std::move(ssl));
  } else {
    impl_ = std::make_shared<ClientImpl<websocket::stream<beast::tcp_stream>>>(
        runner_->io, std::move(options), nullptr);
  }
}

RawWsClient::~RawWsClient() {
  // Closing the socket completes every pending operation, so run() returns once they are done.
  asio::post(runner_->io, [impl = impl_] { impl->do_drop(); });
  runner_->guard.reset();
  runner_->thread.join();
  impl_.reset();
}

UpgradeResult RawWsClient::connect(std::chrono::milliseconds timeout) {
  auto done = std::make_shared<std::promise<UpgradeResult>>();
  auto result = done->get_future();
  asio::post(runner_->io, [impl = impl_, done] { impl->start_connect(done); });
  if (result.wait_for(timeout) != std::future_status::ready) {
    asio::post(runner_->io, [impl = impl_] { impl->do_drop(); });
    UpgradeResult timed_out;
    timed_out.error = "connect timed out";
    return timed_out;
  }
  return result.get();
}

void RawWsClient::send(std::vector<uint8_t> bytes, bool binary) {
  asio::post(runner_->io, [impl = impl_, bytes = std::move(bytes), binary]() mutable {
    impl->do_send(std::move(bytes), binary);
  });
}

void RawWsClient::ping(std::string payload) {
  asio::post(runner_->io, [impl = impl_, payload = std::move(payload)]() mutable {
    impl->do_ping(std::move(payload));
  });
}

void RawWsClient::close(uint16_t code) {
  asio::post(runner_->io, [impl = impl_, code] { impl->do_close(code); });
}

void RawWsClient::drop() {
  asio::post(runner_->io, [impl = impl_] { impl->do_drop(); });
}

bool RawWsClient::wait_messages(std::size_t count, std::chrono::milliseconds timeout) {
  return impl_->wait([&] { return impl_->messages.size() >= count; }, timeout);
}

bool RawWsClient::wait_end(std::chrono::milliseconds timeout) {
  return impl_->wait([&] { return impl_->end.ended; }, timeout);
}

bool RawWsClient::wait_pongs(int count, std::chrono::milliseconds timeout) {
  return impl_->wait([&] { return impl_->pongs >= count; }, timeout);
}

bool RawWsClient::wait_kind(uint8_t kind, std::size_t count, std::chrono::milliseconds timeout) {
  return impl_->wait(
      [&] {
        std::size_t n = 0;
        for (const auto& m : impl_->messages) {
          n += !m.bytes.empty() && m.bytes[0] == kind ? 1 : 0;
        }
        return n >= count;
      },
      timeout);
}

bool RawWsClient::wait_sent(std::size_t count, std::chrono::milliseconds timeout) {
  return impl_->wait([&] { return impl_->sent >= count; }, timeout);
}

std::vector<ReceivedMessage> RawWsClient::messages() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->messages;
}

std::size_t RawWsClient::message_count() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->messages.size();
}

ConnectionEnd RawWsClient::end() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->end;
}

int RawWsClient::pongs() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->pongs;
}

std::size_t RawWsClient::sent_count() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->sent;
}

// --- Ogg/Opus ---------------------------------------------------------------------------------

namespace {

audio::OpusEncoder make_client_encoder() {
  audio::OpusEncoderParams params;
  params.sample_rate_hz = 24000;
  params.voip = false; // the browser client uses OPUS_APPLICATION_AUDIO
  params.complexity = 5;
  auto encoder = audio::OpusEncoder::create(params);
  if (!encoder) {
    throw std::runtime_error("opus encoder: " + encoder.error().message);
  }
  return std::move(*encoder);
}

} // namespace

ClientStream::ClientStream(uint32_t serial, int frame_ms)
    : writer_(audio::standard_client_framing(serial, 312)), encoder_(make_client_encoder()),
      frame_samples_(24000 * frame_ms / 1000) {}

std::vector<uint8_t> ClientStream::head_page() {
  return writer_.head_page();
}

std::vector<uint8_t> ClientStream::tags_page() {
  return writer_.tags_page();
}

std::vector<std::vector<uint8_t>> ClientStream::audio_pages(std::span<const int16_t> pcm,
                                                            bool end_of_stream) {
  pending_.insert(pending_.end(), pcm.begin(), pcm.end());
  std::vector<std::vector<uint8_t>> pages;
  std::size_t used = 0;
  std::vector<uint8_t> packet;
  while (pending_.size() - used >= static_cast<std::size_t>(frame_samples_)) {
    auto frame = std::span<const int16_t>(pending_).subspan(used, frame_samples_);
    if (auto r = encoder_.encode(frame, packet); !r) {
      throw std::runtime_error("opus encode: " + r.error().message);
    }
    used += static_cast<std::size_t>(frame_samples_);
    const bool last = pending_.size() - used < static_cast<std::size_t>(frame_samples_);
    std::vector<uint8_t> page;
    writer_.packet_page(packet, frame_samples_, page, end_of_stream && last);
    pages.push_back(std::move(page));
  }
  pending_.erase(pending_.begin(), pending_.begin() + static_cast<std::ptrdiff_t>(used));
  return pages;
}

std::vector<uint8_t> audio_message(std::span<const uint8_t> page) {
  std::vector<uint8_t> message;
  message.reserve(page.size() + 1);
  message.push_back(0x01);
  message.insert(message.end(), page.begin(), page.end());
  return message;
}

OggPageInfo parse_page(std::span<const uint8_t> page) {
  OggPageInfo info;
  if (page.size() < 27 || std::memcmp(page.data(), "OggS", 4) != 0) {
    return info;
  }
  auto le = [&](std::size_t at, int bytes) {
    uint64_t v = 0;
    for (int i = bytes - 1; i >= 0; --i) {
      v = (v << 8) | page[at + static_cast<std::size_t>(i)];
    }
    return v;
  };
  info.version = page[4];
  info.flags = page[5];
  info.granule = static_cast<int64_t>(le(6, 8));
  info.serial = static_cast<uint32_t>(le(14, 4));
  info.sequence = static_cast<uint32_t>(le(18, 4));
  info.crc = static_cast<uint32_t>(le(22, 4));
  info.segments = page[26];
  if (page.size() < 27u + static_cast<std::size_t>(info.segments)) {
    return info;
  }
  std::size_t body = 0;
  int packet_ends = 0;
  for (int i = 0; i < info.segments; ++i) {
    const uint8_t lace = page[27 + static_cast<std::size_t>(i)];
    body += lace;
    if (lace < 255) {
      ++packet_ends;
    }
  }
  const std::size_t header = 27u + static_cast<std::size_t>(info.segments);
  if (page.size() != header + body) {
    return info;
  }
  info.single_packet = packet_ends == 1 && page[header - 1] < 255;
  info.packet.assign(page.begin() + static_cast<std::ptrdiff_t>(header), page.end());
  std::vector<uint8_t> zeroed(page.begin(), page.end());
  std::memset(zeroed.data() + 22, 0, 4);
  info.crc_ok = audio::ogg_crc32(zeroed) == info.crc;
  info.valid = true;
  return info;
}

ServerOutput split_output(const std::vector<ReceivedMessage>& messages) {
  ServerOutput out;
  for (const auto& message : messages) {
    if (message.bytes.empty()) {
      continue;
    }
    const auto payload = std::span<const uint8_t>(message.bytes).subspan(1);
    switch (message.bytes[0]) {
    case 0x00:
      out.handshake = true;
      break;
    case 0x01:
      if (out.header_pages.size() < 2) {
        out.header_pages.emplace_back(payload.begin(), payload.end());
      } else {
        out.audio_pages.push_back(parse_page(payload));
      }
      break;
    case 0x02:
      out.texts.emplace_back(payload.begin(), payload.end());
      out.text_positions.push_back(out.audio_pages.size());
      break;
    default:
      out.other_kinds.push_back(message.bytes[0]);
    }
  }
  return out;
}

std::vector<int16_t> decode_pages(const std::vector<OggPageInfo>& pages) {
  auto decoder = audio::OpusDecoder::create(24000);
  if (!decoder) {
    throw std::runtime_error("opus decoder");
  }
  std::vector<int16_t> pcm;
  for (const auto& page : pages) {
    if (auto n = decoder->decode(page.packet, pcm); !n) {
      throw std::runtime_error("decode: " + n.error().message);
    }
  }
  return pcm;
}

std::vector<int16_t> speak(const std::string& text) {
  auto tts = cascade::FliteTts::create({"kal16", 100});
  if (!tts) {
    throw std::runtime_error("flite: " + tts.error().message);
  }
  audio::PcmBuffer speech{16000, {}};
  cascade::TtsRequest request;
  request.text = text;
  auto result = (*tts)->synthesize(request, [&](const cascade::TtsChunk& chunk) {
    speech.samples.insert(speech.samples.end(), chunk.samples.begin(), chunk.samples.end());
  });
  if (!result) {
    throw std::runtime_error("flite: " + result.error().message);
  }
  auto resampled = audio::resample_clip(speech, 24000);
  if (!resampled) {
    throw std::runtime_error("resample: " + resampled.error());
  }
  return std::move(resampled->samples);
}

double rms(std::span<const int16_t> samples) {
  if (samples.empty()) {
    return 0.0;
  }
  double sum = 0;
  for (const int16_t s : samples) {
    sum += static_cast<double>(s) * s;
  }
  return std::sqrt(sum / static_cast<double>(samples.size()));
}

} // namespace pv::sim::test
