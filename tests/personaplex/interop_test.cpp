// Interoperability of the stream our client sends: captured on the wire by a minimal peer that
// speaks the server's side of the protocol (handshake after a delay, then the sphn header pages),
// written to a file and checked with opus-tools (opusinfo validates the Ogg Opus stream, opusdec
// decodes it). opus-tools is a declared dependency (scripts/install-deps.sh): missing = failure.

#include "personaplex/client_session.hpp"

#include "audio/ogg_opus.hpp"
#include "audio/wav.hpp"
#include "net/io_thread.hpp"
#include "net/ws_server.hpp"
#include "pp_test_util.hpp"
#include "support/command.hpp"
#include "support/signal.hpp"

#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

namespace pv::personaplex {
namespace {

using namespace std::chrono_literals;
using pv::test::run_command;

// The server side, reduced to what this test needs: record every message; send the handshake
// and the two header pages when asked.
struct CapturePeer {
  std::mutex mutex;
  std::vector<std::vector<uint8_t>> messages;
  std::atomic<bool> handshake_sent{false};
  std::size_t messages_before_handshake = 0;
  net::WsConnectionPtr connection;
  std::unique_ptr<net::WsServer> server;

  explicit CapturePeer(boost::asio::io_context& io) {
    net::WsServerHandlers handlers;
    handlers.on_open = [this](const net::WsConnectionPtr& c) {
      std::lock_guard lock(mutex);
      connection = c;
    };
    handlers.on_message = [this](const net::WsConnectionPtr&, const net::WsMessageView& m) {
      std::lock_guard lock(mutex);
      if (!handshake_sent.load()) {
        ++messages_before_handshake;
      }
      messages.emplace_back(m.data.begin(), m.data.end());
    };
    auto created = net::WsServer::create(io, net::WsServerParams{}, std::move(handlers));
    EXPECT_TRUE(created.has_value());
    server = std::move(*created);
  }

  bool send_handshake() {
    std::lock_guard lock(mutex);
    if (!connection) {
      return false;
    }
    audio::OggOpusWriter writer(audio::sphn_server_framing());
    std::vector<uint8_t> head = {0x01};
    const auto head_page = writer.head_page();
    head.insert(head.end(), head_page.begin(), head_page.end());
    std::vector<uint8_t> tags = {0x01};
    const auto tags_page = writer.tags_page();
    tags.insert(tags.end(), tags_page.begin(), tags_page.end());
    handshake_sent.store(true);
    connection->send_binary(std::vector<uint8_t>{0x00});
    connection->send_binary(std::move(head));
    connection->send_binary(std::move(tags));
    return true;
  }
};

TEST(Interop, OurStreamOnTheWirePassesOpusinfoAndDecodesWithOpusdec) {
  const auto which = run_command("command -v opusinfo && command -v opusdec");
  ASSERT_EQ(which.status, 0) << "opus-tools is required (scripts/install-deps.sh): "
                             << which.output;
  net::IoThread io;
  CapturePeer peer(io.context());
  ASSERT_TRUE(peer.server);
  auto params =
      test::session_params(peer.server->url("/api/chat?text_prompt=Hi&voice_prompt=NATF0.pt"));
  auto created = ClientSession::create(io.context(), params);
  ASSERT_TRUE(created.has_value());
  auto session = *created;
  session->start();
  // 2 s of a 440 Hz tone; the driver tries to send from its first tick on.
  const auto tone = testsupport::make_sine(24000, 440.0, 0.3, 48000);
  test::SessionDriver driver(session, tone, 2ms);
  ASSERT_TRUE(test::wait_for([&] {
    std::lock_guard lock(peer.mutex);
    return peer.connection != nullptr;
  }));
  std::this_thread::sleep_for(300ms); // the client keeps ticking: nothing may reach the peer
  ASSERT_TRUE(peer.send_handshake());
  ASSERT_TRUE(test::wait_for([&] { return driver.sent() >= 150; })); // 3 s: tone + silence
  driver.stop();
  session->adopt_sender(); // the driver's thread is done: this one ends the stream
  session->finish_stream();
  session->close();
  ASSERT_TRUE(test::wait_for([&] { return session->ended(); }));
  EXPECT_EQ(session->state(), SessionState::closed);

  std::vector<uint8_t> stream;
  std::size_t pages = 0;
  {
    std::lock_guard lock(peer.mutex);
    EXPECT_EQ(peer.messages_before_handshake, 0u);
    for (const auto& m : peer.messages) {
      ASSERT_FALSE(m.empty());
      ASSERT_EQ(m[0], 0x01) << "only audio messages";
      ASSERT_GE(m.size(), 28u);
      EXPECT_EQ(std::string(m.begin() + 1, m.begin() + 5), "OggS") << "one page per message";
      stream.insert(stream.end(), m.begin() + 1, m.end());
      ++pages;
    }
  }
  ASSERT_GE(pages, 2u + 150u);
  EXPECT_EQ(static_cast<int64_t>(pages), 2 + session->counters().pages_sent); // EOS page incl.
  test::TempDir dir;
  const auto file = dir.path / "client.opus";
  std::ofstream(file, std::ios::binary)
      .write(reinterpret_cast<const char*>(stream.data()),
             static_cast<std::streamsize>(stream.size()));

  const auto info = run_command("opusinfo " + file.string());
  EXPECT_EQ(info.status, 0) << info.output;
  EXPECT_EQ(info.output.find("WARNING"), std::string::npos) << info.output;
  EXPECT_EQ(info.output.find("ERROR"), std::string::npos) << info.output;
  EXPECT_NE(info.output.find("Channels: 1"), std::string::npos) << info.output;
  EXPECT_NE(info.output.find("Original sample rate: 24000 Hz"), std::string::npos) << info.output;

  const auto wav = dir.path / "client.wav";
  const auto dec = run_command("opusdec --rate 24000 " + file.string() + " " + wav.string());
  ASSERT_EQ(dec.status, 0) << dec.output;
  auto decoded = audio::read_wav(wav);
  ASSERT_TRUE(decoded.has_value());
  EXPECT_EQ(decoded->sample_rate, 24000);
  // All sent audio comes back (pre-skip trimmed by opusdec): pages_sent x 20 ms.
  const int64_t sent_ms = session->counters().pages_sent * 20;
  EXPECT_NEAR(static_cast<double>(decoded->duration_ms()), static_cast<double>(sent_ms), 25.0);
  // ... and it is our tone: 440 Hz at the level we sent, in the first 2 s.
  const auto head = std::span<const int16_t>(decoded->samples).subspan(2400, 24000);
  EXPECT_NEAR(testsupport::peak_frequency(head, 24000, 300, 600), 440.0, 2.0);
  EXPECT_NEAR(testsupport::tone_level_dbfs(head, 24000, 440.0),
              testsupport::tone_level_dbfs(std::span<const int16_t>(tone).subspan(2400, 24000),
                                           24000, 440.0),
              1.5);
}

} // namespace
} // namespace pv::personaplex
