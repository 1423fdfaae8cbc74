#pragma once
// Test-side tools for the PersonaPlex simulator tests: a raw WebSocket client written directly on
// Boost.Beast (not the project's PersonaPlex client: the simulator must be checked independently),
// an Ogg/Opus client stream encoder, and Ogg page parsing.
//
// RawWsClient runs on its own one-thread io_context. Every method is thread-safe; waits are
// bounded (they return false rather than hang). It records every message, every pong, and how
// the connection ended: a WebSocket Close frame (and its code) or a TCP end without one.

#include "audio/ogg_opus.hpp"
#include "audio/opus_codec.hpp"

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace pv::sim::test {

inline constexpr std::chrono::seconds kWait{20}; // generous: only reached when something is broken

struct RawWsOptions {
  uint16_t port = 0;
  std::string target = "/api/chat?text_prompt=Hi&voice_prompt=NATF0.pt";
  bool tls = false;
  std::string ca_file; // TLS: the CA to trust (verification is always on)
};

struct UpgradeResult {
  bool ok = false; // 101 received
  int http_status = 0;
  std::string retry_after;
  std::string body;
  std::string error; // transport error, if no HTTP answer
};

struct ReceivedMessage {
  bool binary = true;
  std::vector<uint8_t> bytes;
  std::chrono::steady_clock::time_point at;
};

struct ConnectionEnd {
  bool ended = false;
  bool close_frame = false; // the server sent a WebSocket Close frame
  int close_code = 0;
  std::string error; // the read error when there was no Close frame (eof, reset, ...)
};

class RawWsClient {
public:
  explicit RawWsClient(RawWsOptions options);
  ~RawWsClient();
  RawWsClient(const RawWsClient&) = delete;
  RawWsClient& operator=(const RawWsClient&) = delete;

  // TCP + TLS + upgrade, bounded by `timeout`. On 101 the client starts reading.
  UpgradeResult connect(std::chrono::milliseconds timeout = kWait);

  void send(std::vector<uint8_t> bytes, bool binary = true);
  void send_text(std::string_view text) { send({text.begin(), text.end()}, false); }
  void ping(std::string payload = "p");
  void close(uint16_t code = 1000); // WebSocket Close handshake
  void drop();                      // TCP close, no Close frame

  bool wait_messages(std::size_t count, std::chrono::milliseconds timeout = kWait);
  bool wait_end(std::chrono::milliseconds timeout = kWait);
  bool wait_pongs(int count, std::chrono::milliseconds timeout = kWait);
  // Waits for `count` messages whose first byte is `kind`.
  bool wait_kind(uint8_t kind, std::size_t count, std::chrono::milliseconds timeout = kWait);

  std::vector<ReceivedMessage> messages() const;
  std::size_t message_count() const;
  ConnectionEnd end() const;
  int pongs() const;
  // Messages fully written to the socket.
  std::size_t sent_count() const;
  bool wait_sent(std::size_t count, std::chrono::milliseconds timeout = kWait);

  struct Impl;
  struct Runner;

private:
  std::unique_ptr<Runner> runner_; // the io_context: destroyed after impl_
  std::shared_ptr<Impl> impl_;
};

// --- Ogg/Opus ---------------------------------------------------------------------------------

// A client-side Ogg Opus stream (24 kHz, 20 ms packets by default, one packet per page), like the
// browser client: BOS/OpusHead page, OpusTags page, then audio pages.
class ClientStream {
public:
  explicit ClientStream(uint32_t serial = 0x12345678, int frame_ms = 20);
  std::vector<uint8_t> head_page();
  std::vector<uint8_t> tags_page();
  // Encodes whole frames of `pcm` (24 kHz); a remainder is kept for the next call. One page per
  // packet; `end_of_stream` sets EOS on the last page (the stream is then finished).
  std::vector<std::vector<uint8_t>> audio_pages(std::span<const int16_t> pcm,
                                                bool end_of_stream = false);
  int frame_samples() const { return frame_samples_; }

private:
  audio::OggOpusWriter writer_;
  audio::OpusEncoder encoder_;
  int frame_samples_;
  std::vector<int16_t> pending_;
};

// 0x01 + bytes.
std::vector<uint8_t> audio_message(std::span<const uint8_t> page);

struct OggPageInfo {
  bool valid = false;
  uint8_t version = 0;
  uint8_t flags = 0;
  int64_t granule = 0;
  uint32_t serial = 0;
  uint32_t sequence = 0;
  uint32_t crc = 0;
  bool crc_ok = false;
  int segments = 0;
  std::vector<uint8_t> packet; // the (single) packet on the page
  bool single_packet = false;  // lacing ends exactly once, on the last segment
};

OggPageInfo parse_page(std::span<const uint8_t> page);

// The simulator's output: audio pages (k >= 1) and text pieces, in order.
struct ServerOutput {
  bool handshake = false;
  std::vector<std::vector<uint8_t>> header_pages; // the first two 0x01 payloads
  std::vector<OggPageInfo> audio_pages;           // then every 0x01 payload
  std::vector<std::string> texts;                 // 0x02 payloads
  // For each text piece, the number of audio pages received before it.
  std::vector<std::size_t> text_positions;
  std::vector<uint8_t> other_kinds;
};

ServerOutput split_output(const std::vector<ReceivedMessage>& messages);

// Decodes the audio pages (24 kHz).
std::vector<int16_t> decode_pages(const std::vector<OggPageInfo>& pages);

// flite kal16 speech of `text` at 24 kHz.
std::vector<int16_t> speak(const std::string& text);

double rms(std::span<const int16_t> samples);

} // namespace pv::sim::test
