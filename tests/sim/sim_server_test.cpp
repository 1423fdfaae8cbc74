// The simulator on the wire, driven by a raw Beast client (tests/sim/sim_test_util.hpp): byte
// exactness, the input clock, the negative vectors of protocol §8.7, the prompt phase, the
// session queue, the "model" and every fault.

#include "sim/sim_server.hpp"
#include "sim_test_util.hpp"

#include "support/signal.hpp"
#include "support/tls_certs.hpp"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <random>
#include <thread>

#include <gtest/gtest.h>
#include <httplib.h>
#include <unistd.h>

namespace pv::sim {
namespace {

using namespace std::chrono_literals;
using test::audio_message;
using test::ClientStream;
using test::RawWsClient;
using test::RawWsOptions;

constexpr auto kQuiet = 400ms; // bounded wait used to assert that nothing arrives

SimParams fast_params() {
  SimParams params;
  params.port = 0;
  params.prompt_step_ms = 1;
  params.voices.default_frames = 4;
  return params;
}

std::unique_ptr<SimServer> start(const SimParams& params) {
  auto server = SimServer::create(params);
  if (!server) {
    ADD_FAILURE() << to_string(server.error().kind) << ": " << server.error().message;
    return nullptr;
  }
  return std::move(*server);
}

RawWsOptions options(const SimServer& server,
                     std::string target = "/api/chat?text_prompt=Hi&voice_prompt=NATF0.pt") {
  RawWsOptions o;
  o.port = server.port();
  o.target = std::move(target);
  return o;
}

// Connects, expects the 101 and the handshake + two header pages.
void open_session(RawWsClient& client) {
  const auto upgrade = client.connect();
  ASSERT_TRUE(upgrade.ok) << upgrade.http_status << " " << upgrade.error;
  ASSERT_TRUE(client.wait_messages(3)) << "no handshake";
}

struct LiveSession {
  std::unique_ptr<SimServer> server;
  std::unique_ptr<RawWsClient> client; // null unless the server started and the session opened
};

// A server with `params` and a client whose session is open (as open_session()).
LiveSession start_session(const SimParams& params = fast_params()) {
  LiveSession out;
  out.server = start(params);
  if (!out.server) {
    return out;
  }
  auto client = std::make_unique<RawWsClient>(options(*out.server));
  open_session(*client);
  if (!::testing::Test::HasFatalFailure()) {
    out.client = std::move(client);
  }
  return out;
}

void send_pages(RawWsClient& client, const std::vector<std::vector<uint8_t>>& pages) {
  for (const auto& page : pages) {
    client.send(audio_message(page));
  }
}

// Sends the BOS and tags pages of `stream`.
void send_headers(RawWsClient& client, ClientStream& stream) {
  client.send(audio_message(stream.head_page()));
  client.send(audio_message(stream.tags_page()));
}

std::vector<int16_t> silence(int ms) {
  return std::vector<int16_t>(static_cast<std::size_t>(24 * ms), 0);
}

std::size_t audio_pages(const RawWsClient& client) {
  return test::split_output(client.messages()).audio_pages.size();
}

bool wait_audio_pages(RawWsClient& client, std::size_t count,
                      std::chrono::milliseconds timeout = test::kWait) {
  // Handshake + 2 header pages + `count` audio pages (text messages come on top).
  return client.wait_kind(0x01, count + 2, timeout);
}

const std::vector<uint8_t> kHeadMessage = {
    0x01, 0x4f, 0x67, 0x67, 0x53, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x2a,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xef, 0x88, 0x87, 0x22, 0x01, 0x13, 0x4f, 0x70, 0x75,
    0x73, 0x48, 0x65, 0x61, 0x64, 0x01, 0x01, 0x00, 0x0f, 0xc0, 0x5d, 0x00, 0x00, 0x00, 0x00, 0x00};
const std::vector<uint8_t> kTagsMessage = {
    0x01, 0x4f, 0x67, 0x67, 0x53, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x2a, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0xbf, 0xd8, 0x21, 0xe5, 0x01,
    0x19, 0x4f, 0x70, 0x75, 0x73, 0x54, 0x61, 0x67, 0x73, 0x09, 0x00, 0x00, 0x00, 0x73,
    0x70, 0x68, 0x6e, 0x2d, 0x70, 0x79, 0x6f, 0x33, 0x00, 0x00, 0x00, 0x00};

// --- handshake, framing, input clock -------------------------------------------------------------

TEST(SimWire, HandshakeThenTheTwoSphnHeaderPagesByteForByte) {
  auto [server, client] = start_session();
  ASSERT_TRUE(client);
  const auto messages = client->messages();
  ASSERT_GE(messages.size(), 3u);
  EXPECT_TRUE(messages[0].binary);
  EXPECT_EQ(messages[0].bytes, std::vector<uint8_t>{0x00});
  EXPECT_EQ(messages[1].bytes, kHeadMessage);
  EXPECT_EQ(messages[2].bytes, kTagsMessage);
  // Nothing else without input (no timer-driven output).
  std::this_thread::sleep_for(kQuiet);
  EXPECT_EQ(client->message_count(), 3u);
}

TEST(SimWire, OnePagePerInputFrameWithSphnFramingAndNoOutputWithoutInput) {
  auto [server, client] = start_session();
  ASSERT_TRUE(client);
  ClientStream stream;
  send_headers(*client, stream);
  // 12 pages of 20 ms = 3 frames of 1920 samples -> exactly 3 pages.
  send_pages(*client, stream.audio_pages(silence(240)));
  ASSERT_TRUE(wait_audio_pages(*client, 3));
  std::this_thread::sleep_for(kQuiet);
  auto out = test::split_output(client->messages());
  ASSERT_EQ(out.audio_pages.size(), 3u);

  // 40 ms more: a partial frame produces nothing yet.
  send_pages(*client, stream.audio_pages(silence(40)));
  ASSERT_TRUE(client->wait_sent(2 + 12 + 2));
  std::this_thread::sleep_for(kQuiet);
  EXPECT_EQ(audio_pages(*client), 3u);
  // 40 ms more completes the 4th frame.
  send_pages(*client, stream.audio_pages(silence(40)));
  ASSERT_TRUE(wait_audio_pages(*client, 4));
  std::this_thread::sleep_for(kQuiet);
  out = test::split_output(client->messages());
  ASSERT_EQ(out.audio_pages.size(), 4u);
  EXPECT_TRUE(out.texts.empty()); // silence in: the model says nothing
  EXPECT_TRUE(out.other_kinds.empty());

  for (std::size_t i = 0; i < out.audio_pages.size(); ++i) {
    const auto& page = out.audio_pages[i];
    const int64_t k = static_cast<int64_t>(i) + 1;
    ASSERT_TRUE(page.valid) << k;
    EXPECT_TRUE(page.crc_ok) << k;
    EXPECT_EQ(page.version, 0);
    EXPECT_EQ(page.flags, 0) << k; // no BOS, no EOS, no continuation
    EXPECT_EQ(page.serial, 42u);
    EXPECT_EQ(page.sequence, static_cast<uint32_t>(k + 1));
    EXPECT_EQ(page.granule, 1920 * k);
    EXPECT_TRUE(page.single_packet);
    EXPECT_EQ(audio::opus_packet_samples(page.packet, 24000).value_or(0), 1920) << k;
  }
  // Digital silence out of a fresh encoder: the §8.4 page CRCs exactly.
  EXPECT_EQ(out.audio_pages[0].crc, 0x15DBBBBCu);
  EXPECT_EQ(out.audio_pages[0].packet.size(), 104u);
  EXPECT_EQ(out.audio_pages[1].crc, 0xCC7774C8u);
  EXPECT_EQ(out.audio_pages[2].crc, 0x029C4CECu);
  const auto pcm = test::decode_pages(out.audio_pages);
  EXPECT_EQ(pcm.size(), 4u * 1920u);
}

TEST(SimWire, AnySlicingOfTheOggStreamIsAccepted) {
  auto [server, client] = start_session();
  ASSERT_TRUE(client);
  ClientStream stream(7, 40); // 40 ms packets
  std::vector<uint8_t> bytes = stream.head_page();
  auto append = [&](const std::vector<uint8_t>& page) {
    bytes.insert(bytes.end(), page.begin(), page.end());
  };
  append(stream.tags_page());
  for (const auto& page : stream.audio_pages(test::speak("one two three four"))) {
    append(page);
  }
  const auto frames = [&] {
    audio::OggOpusReader reader;
    std::vector<int16_t> pcm;
    EXPECT_TRUE(reader.feed(bytes, pcm));
    return pcm.size() / 1920;
  }();
  // Messages of 7, 300, 1, 1000, ... bytes: pages split and batched.
  const std::size_t sizes[] = {7, 300, 1, 1000, 13, 4096};
  std::size_t at = 0;
  for (std::size_t i = 0; at < bytes.size(); ++i) {
    const std::size_t n = std::min(sizes[i % 6], bytes.size() - at);
    std::vector<uint8_t> message{0x01};
    message.insert(message.end(), bytes.begin() + static_cast<std::ptrdiff_t>(at),
                   bytes.begin() + static_cast<std::ptrdiff_t>(at + n));
    client->send(std::move(message));
    at += n;
  }
  ASSERT_TRUE(wait_audio_pages(*client, frames));
  std::this_thread::sleep_for(kQuiet);
  EXPECT_EQ(audio_pages(*client), frames);
  EXPECT_FALSE(client->end().ended);
}

TEST(SimWire, TextFramesOtherKindsAndEmptyMessagesAreIgnored) {
  auto [server, client] = start_session();
  ASSERT_TRUE(client);
  client->send_text("hello");
  client->send({0x02, 'h', 'i'});
  client->send({0x03, 0x00});
  client->send({0x00});
  client->send({});
  client->send({0x07, 1, 2, 3});
  ClientStream stream;
  send_headers(*client, stream);
  send_pages(*client, stream.audio_pages(silence(160)));
  ASSERT_TRUE(wait_audio_pages(*client, 2));
  EXPECT_FALSE(client->end().ended);
  EXPECT_EQ(audio_pages(*client), 2u);
}

TEST(SimWire, ClientCloseIsAnsweredWithCloseAndTheSessionEnds) {
  auto [server, client] = start_session();
  ASSERT_TRUE(client);
  client->close(1000);
  ASSERT_TRUE(client->wait_end());
  EXPECT_TRUE(client->end().close_frame);
  EXPECT_EQ(client->end().close_code, 1000);
  EXPECT_TRUE(server->wait_until([](const auto& s) { return s.size() == 1 && s[0].ended; }, 10s));
}

// --- negative vectors (§8.7) ---------------------------------------------------------------------

void expect_close_1000(RawWsClient& client) {
  ASSERT_TRUE(client.wait_end());
  const auto end = client.end();
  EXPECT_TRUE(end.close_frame) << end.error;
  EXPECT_EQ(end.close_code, 1000);
}

TEST(SimNegative, FirstPageWithoutBosClosesWith1000) {
  auto [server, client] = start_session();
  ASSERT_TRUE(client);
  ClientStream stream;
  (void)stream.head_page(); // never sent
  client->send(audio_message(stream.tags_page()));
  send_pages(*client, stream.audio_pages(silence(160)));
  expect_close_1000(*client);
  EXPECT_EQ(audio_pages(*client), 0u);
  const auto report = server->sessions().at(0);
  EXPECT_NE(report.input_error.find("BOS"), std::string::npos) << report.input_error;
}

TEST(SimNegative, BadCrcClosesWith1000AfterTheGoodPages) {
  auto [server, client] = start_session();
  ASSERT_TRUE(client);
  ClientStream stream;
  send_headers(*client, stream);
  send_pages(*client, stream.audio_pages(silence(80))); // one good frame
  auto bad = stream.audio_pages(silence(20)).at(0);
  bad[23] ^= 0x01;
  client->send(audio_message(bad));
  send_pages(*client, stream.audio_pages(silence(160)));
  expect_close_1000(*client);
  EXPECT_EQ(audio_pages(*client), 1u);
  EXPECT_NE(server->sessions().at(0).input_error.find("CRC"), std::string::npos);
}

TEST(SimNegative, SecondBosForTheSameSerialClosesWith1000) {
  auto [server, client] = start_session();
  ASSERT_TRUE(client);
  ClientStream stream;
  const auto head = stream.head_page();
  client->send(audio_message(head));
  client->send(audio_message(head));
  expect_close_1000(*client);
}

TEST(SimNegative, RawOpusWithoutOggGivesNothingThenCloseAfter150KiB) {
  auto [server, client] = start_session();
  ASSERT_TRUE(client);
  audio::OpusEncoderParams params;
  params.bitrate_bps = 256000;
  auto encoder = audio::OpusEncoder::create(params);
  ASSERT_TRUE(encoder);
  testsupport::SineGenerator tone(24000, 440.0, 0.5);
  std::size_t sent = 0;
  std::size_t messages = 0;
  std::vector<uint8_t> packet;
  auto send_until = [&](std::size_t bytes) {
    while (sent < bytes) {
      ASSERT_TRUE(encoder->encode(tone.next(480), packet));
      if (std::search(packet.begin(), packet.end(), "OggS", "OggS" + 4) != packet.end()) {
        continue; // a stray capture pattern would end it earlier (CRC error)
      }
      std::vector<uint8_t> message{0x01};
      message.insert(message.end(), packet.begin(), packet.end());
      client->send(std::move(message));
      sent += packet.size();
      ++messages;
    }
  };
  send_until(140 * 1024);
  ASSERT_TRUE(client->wait_sent(messages));
  std::this_thread::sleep_for(kQuiet);
  EXPECT_FALSE(client->end().ended);
  EXPECT_EQ(client->message_count(), 3u); // handshake + headers only: no audio, no text
  send_until(152 * 1024);
  expect_close_1000(*client);
  EXPECT_EQ(audio_pages(*client), 0u);
}

struct BadRequestCase {
  std::string target;
  std::string reason;
};

TEST(SimNegative, BadParametersGet101ThenTcpCloseWithoutCloseFrame) {
  auto server = start(fast_params());
  ASSERT_TRUE(server);
  const std::vector<BadRequestCase> cases = {
      {"/api/chat?text_prompt=Hi", "missing_voice_prompt"},
      {"/api/chat?voice_prompt=NATF0.pt", "missing_text_prompt"},
      {"/api/chat?text_prompt=Hi&voice_prompt=NOBODY.pt", "unknown_voice"},
      {"/api/chat?text_prompt=Hi&voice_prompt=..%2FNATF0.pt", "invalid_voice_name"},
      {"/api/chat?text_prompt=Hi&voice_prompt=NATF0.pt&seed=42", "seed_present"},
      {"/api/chat?text_prompt=Hi&voice_prompt=NATF0.pt&seed=-1", "seed_present"},
  };
  int index = 0;
  for (const auto& c : cases) {
    SCOPED_TRACE(c.target);
    RawWsClient client(options(*server, c.target));
    const auto upgrade = client.connect();
    ASSERT_TRUE(upgrade.ok) << upgrade.http_status; // 101 first
    ASSERT_TRUE(client.wait_end());
    EXPECT_FALSE(client.end().close_frame) << "must be a TCP close, not a Close frame";
    EXPECT_EQ(client.message_count(), 0u);
    ++index;
    ASSERT_TRUE(server->wait_until(
        [&](const auto& s) { return static_cast<int>(s.size()) >= index && s.back().ended; }, 10s));
    const auto report = server->sessions().back();
    EXPECT_EQ(report.state, SimSessionState::ended);
    EXPECT_EQ(report.bad_request, c.reason);
    EXPECT_EQ(report.prompt_probes, 0); // before the lock: no prompt phase
  }
}

TEST(SimNegative, CorruptVoiceFailsOnceThenTheNextRequestForItSucceeds) {
  const auto dir =
      std::filesystem::temp_directory_path() / ("pv_sim_corrupt_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "Broken.pt").flush();
  SimParams params = fast_params();
  params.voices.voice_dir = dir.string();
  auto server = start(params);
  ASSERT_TRUE(server);
  const std::string target = "/api/chat?text_prompt=Hi&voice_prompt=Broken.pt";
  RawWsClient first(options(*server, target));
  ASSERT_TRUE(first.connect().ok);
  ASSERT_TRUE(first.wait_end());
  EXPECT_FALSE(first.end().close_frame);
  EXPECT_EQ(first.message_count(), 0u);
  // The real server recorded the name before the load failed: no reload, a handshake.
  RawWsClient second(options(*server, target));
  open_session(second);
  ASSERT_TRUE(server->wait_until([](const auto& s) { return s.size() == 2; }, 10s));
  EXPECT_EQ(server->sessions().at(0).bad_request, "corrupt_voice");
  EXPECT_TRUE(server->sessions().at(1).bad_request.empty());
  std::filesystem::remove_all(dir);
}

TEST(SimNegative, BadRequestsDoNotDisturbARunningSession) {
  auto server = start(fast_params());
  ASSERT_TRUE(server);
  RawWsClient active(options(*server));
  open_session(active);
  RawWsClient bad(options(*server, "/api/chat?text_prompt=Hi&voice_prompt=NATF0.pt&seed=1"));
  ASSERT_TRUE(bad.connect().ok);
  ASSERT_TRUE(bad.wait_end()); // not queued behind the running session: refused at once
  EXPECT_FALSE(bad.end().close_frame);
  ClientStream stream;
  send_headers(active, stream);
  send_pages(active, stream.audio_pages(silence(80)));
  ASSERT_TRUE(wait_audio_pages(active, 1));
}

TEST(SimNegative, EmptyTextPromptDropsTcpPartWayThroughThePromptPhase) {
  SimParams params = fast_params();
  params.voices.default_frames = 10;
  auto server = start(params);
  ASSERT_TRUE(server);
  RawWsClient client(options(*server, "/api/chat?text_prompt=&voice_prompt=NATF0.pt"));
  ASSERT_TRUE(client.connect().ok);
  ASSERT_TRUE(client.wait_end());
  EXPECT_FALSE(client.end().close_frame);
  EXPECT_EQ(client.message_count(), 0u);
  ASSERT_TRUE(server->wait_until([](const auto& s) { return !s.empty() && s[0].ended; }, 10s));
  const auto report = server->sessions().at(0);
  EXPECT_EQ(report.prompt_probes, 10 + 6); // voice prompt + first silence, then the crash
  EXPECT_FALSE(report.handshake_sent);
  EXPECT_EQ(report.end_reason, "empty text_prompt");
}

TEST(SimNegative, AMessageBeforeTheHandshakeIsSwallowedSoAnEarlyBosKillsTheSession) {
  SimParams params = fast_params();
  params.prompt_step_ms = 20;
  auto server = start(params);
  ASSERT_TRUE(server);
  RawWsClient client(options(*server));
  ASSERT_TRUE(client.connect().ok);
  ClientStream stream;
  client.send(audio_message(stream.head_page())); // too early: eaten by an is_alive probe
  ASSERT_TRUE(client.wait_messages(3));           // the handshake still comes
  client.send(audio_message(stream.tags_page()));
  send_pages(client, stream.audio_pages(silence(160)));
  expect_close_1000(client); // the reader never saw a BOS
  EXPECT_EQ(audio_pages(client), 0u);
  EXPECT_EQ(server->sessions().at(0).swallowed_messages, 1);
}

TEST(SimNegative, RandomGarbageEndsTheSessionCleanlyAndTheNextClientIsServed) {
  auto server = start(fast_params());
  ASSERT_TRUE(server);
  std::mt19937 rng(1234);
  for (int round = 0; round < 5; ++round) {
    RawWsClient client(options(*server));
    open_session(client);
    ClientStream stream(static_cast<uint32_t>(round));
    if (round % 2 == 0) {
      send_headers(client, stream); // garbage after a valid start, or from the first byte
    }
    for (int i = 0; i < 200; ++i) {
      std::vector<uint8_t> message(1 + rng() % 400);
      for (auto& byte : message) {
        byte = static_cast<uint8_t>(rng());
      }
      if (i % 3 == 0) {
        message[0] = 0x01;
      }
      if (i % 50 == 7) { // a capture pattern with nonsense behind it
        const uint8_t oggs[] = {0x01, 'O', 'g', 'g', 'S'};
        std::copy(std::begin(oggs), std::end(oggs), message.begin());
        message.resize(std::max<std::size_t>(message.size(), 40));
      }
      const bool text = i % 17 == 0;
      if (text) { // text frames must be valid UTF-8 (else the WebSocket layer fails the connection)
        for (auto& byte : message) {
          byte = static_cast<uint8_t>('a' + byte % 26);
        }
      }
      client.send(std::move(message), !text);
    }
    // Either the reader gave up (Close 1000) or it is still searching: both are fine, but the
    // server must neither crash nor stop serving.
    client.close();
    ASSERT_TRUE(client.wait_end());
    EXPECT_TRUE(client.end().close_frame);
    EXPECT_EQ(client.end().close_code, 1000);
  }
  RawWsClient next(options(*server));
  open_session(next);
  ClientStream stream;
  send_headers(next, stream);
  send_pages(next, stream.audio_pages(silence(80)));
  ASSERT_TRUE(wait_audio_pages(next, 1));
}

// --- prompt phase --------------------------------------------------------------------------------

// Each early message is a complete little Ogg stream (own serial, BOS..EOS, one 80 ms packet):
// the ones the probes do not swallow are decoded after the handshake, one output page each. So
// the page count shows, on the wire, how many probes ran.
std::size_t pages_after_early_burst(SimServer& server, const std::string& text_prompt,
                                    std::size_t burst, SimSessionReport& report) {
  const int index = static_cast<int>(server.sessions().size()) + 1;
  RawWsClient client(options(server, "/api/chat?voice_prompt=NATF1.pt&text_prompt=" + text_prompt));
  EXPECT_TRUE(client.connect().ok);
  for (std::size_t i = 0; i < burst; ++i) {
    ClientStream stream(1000 + static_cast<uint32_t>(i), 80);
    std::vector<uint8_t> message{0x01};
    for (const auto& page : {stream.head_page(), stream.tags_page()}) {
      message.insert(message.end(), page.begin(), page.end());
    }
    for (const auto& page : stream.audio_pages(silence(80), true)) {
      message.insert(message.end(), page.begin(), page.end());
    }
    client.send(std::move(message));
  }
  EXPECT_TRUE(client.wait_messages(3));
  EXPECT_TRUE(server.wait_until(
      [&](const auto& s) {
        return static_cast<int>(s.size()) >= index &&
               s[static_cast<std::size_t>(index - 1)].handshake_sent;
      },
      10s));
  report = server.sessions().at(static_cast<std::size_t>(index - 1));
  const std::size_t expected = burst - static_cast<std::size_t>(report.swallowed_messages);
  EXPECT_TRUE(wait_audio_pages(client, expected));
  std::this_thread::sleep_for(kQuiet);
  client.close();
  EXPECT_TRUE(client.wait_end());
  return audio_pages(client);
}

TEST(SimPrompt, PhaseLengthGrowsWithTheTextPromptOneSwallowedMessagePerProbe) {
  SimParams params = fast_params();
  params.prompt_step_ms = 20; // the burst arrives well within the first step
  params.voices.default_frames = 6;
  auto server = start(params);
  ASSERT_TRUE(server);
  const std::string short_prompt = "Hi";
  const std::string long_prompt(300, 'a');
  const std::size_t burst = 260;

  SimSessionReport short_report;
  const std::size_t short_pages =
      pages_after_early_burst(*server, short_prompt, burst, short_report);
  SimSessionReport long_report;
  const std::size_t long_pages = pages_after_early_burst(*server, long_prompt, burst, long_report);

  const PromptPlan short_plan = plan_prompt_phase(6, estimate_text_tokens(short_prompt));
  const PromptPlan long_plan = plan_prompt_phase(6, estimate_text_tokens(long_prompt));
  EXPECT_EQ(short_report.prompt_lm_steps, short_plan.lm_steps());
  EXPECT_EQ(long_report.prompt_lm_steps, long_plan.lm_steps());
  EXPECT_EQ(short_report.prompt_probes, short_plan.probes());
  EXPECT_EQ(long_report.prompt_probes, long_plan.probes());
  // One message per probe, the rest decoded as audio (visible on the wire).
  EXPECT_EQ(short_report.swallowed_messages, short_plan.probes());
  EXPECT_EQ(long_report.swallowed_messages, long_plan.probes());
  EXPECT_EQ(short_pages, burst - static_cast<std::size_t>(short_plan.probes()));
  EXPECT_EQ(long_pages, burst - static_cast<std::size_t>(long_plan.probes()));
  EXPECT_GT(long_plan.probes(), short_plan.probes() + 60);
}

TEST(SimPrompt, CloseDuringThePromptPhaseEndsItWithoutHandshake) {
  SimParams params = fast_params();
  params.prompt_step_ms = 50;
  params.voices.default_frames = 200; // ~10 s
  auto server = start(params);
  ASSERT_TRUE(server);
  RawWsClient client(options(*server));
  ASSERT_TRUE(client.connect().ok);
  ASSERT_TRUE(server->wait_until(
      [](const auto& s) { return !s.empty() && s[0].state == SimSessionState::prompt; }, 10s));
  client.close();
  ASSERT_TRUE(client.wait_end());
  EXPECT_TRUE(client.end().close_frame);
  ASSERT_TRUE(server->wait_until([](const auto& s) { return s[0].ended; }, 10s));
  const auto report = server->sessions().at(0);
  EXPECT_FALSE(report.handshake_sent);
  EXPECT_LT(report.prompt_probes, 200);
  EXPECT_EQ(client.message_count(), 0u);
}

// --- sessions ------------------------------------------------------------------------------------

TEST(SimQueue, SecondClientGetsNothingNotEvenPongsUntilTheFirstCloses) {
  auto server = start(fast_params());
  ASSERT_TRUE(server);
  RawWsClient first(options(*server));
  open_session(first);
  RawWsClient second(options(*server));
  ASSERT_TRUE(second.connect().ok); // its 101 comes at once
  second.ping("queued?");
  ASSERT_TRUE(server->wait_until(
      [](const auto& s) { return s.size() == 2 && s[1].state == SimSessionState::queued; }, 10s));
  // The first session works normally meanwhile.
  ClientStream stream;
  send_headers(first, stream);
  send_pages(first, stream.audio_pages(silence(160)));
  ASSERT_TRUE(wait_audio_pages(first, 2));
  std::this_thread::sleep_for(kQuiet);
  EXPECT_EQ(second.message_count(), 0u);
  EXPECT_EQ(second.pongs(), 0);
  EXPECT_EQ(server->sessions().at(1).queued_behind, 1);

  first.close();
  ASSERT_TRUE(first.wait_end());
  ASSERT_TRUE(second.wait_messages(3)); // now its handshake
  EXPECT_EQ(second.messages()[0].bytes, std::vector<uint8_t>{0x00});
  EXPECT_TRUE(second.wait_pongs(1)); // and the ping it sent while queued is answered
  EXPECT_GT(second.messages()[0].at, first.messages().back().at);
}

TEST(SimQueue, QueuedClientThatLeftIsSkippedCheaply) {
  SimParams params = fast_params();
  params.prompt_step_ms = 20;
  params.voices.frames_by_name["VARF0.pt"] = 200; // the leaver's full prompt phase: 4+ s
  auto server = start(params);
  ASSERT_TRUE(server);
  RawWsClient first(options(*server));
  open_session(first);
  auto leaver = std::make_unique<RawWsClient>(
      options(*server, "/api/chat?text_prompt=Hi&voice_prompt=VARF0.pt"));
  ASSERT_TRUE(leaver->connect().ok);
  RawWsClient third(options(*server));
  ASSERT_TRUE(third.connect().ok);
  ASSERT_TRUE(server->wait_until([](const auto& s) { return s.size() == 3; }, 10s));
  leaver->close(); // its Close is not read while it is queued
  std::this_thread::sleep_for(100ms);
  leaver.reset();
  first.close();
  ASSERT_TRUE(third.wait_messages(3));
  const auto reports = server->sessions();
  EXPECT_TRUE(reports[1].ended);
  EXPECT_FALSE(reports[1].handshake_sent);
  EXPECT_LE(reports[1].prompt_probes, 1);
  EXPECT_TRUE(reports[2].handshake_sent);
}

TEST(SimQueue, MaxSessionsTwoServesTwoAtOnceAndQueuesTheThird) {
  SimParams params = fast_params();
  params.max_sessions = 2;
  auto server = start(params);
  ASSERT_TRUE(server);
  RawWsClient a(options(*server));
  RawWsClient b(options(*server));
  open_session(a);
  open_session(b);
  RawWsClient c(options(*server));
  ASSERT_TRUE(c.connect().ok);
  ClientStream sa(1);
  ClientStream sb(2);
  send_headers(a, sa);
  send_headers(b, sb);
  send_pages(a, sa.audio_pages(silence(160)));
  send_pages(b, sb.audio_pages(silence(240)));
  ASSERT_TRUE(wait_audio_pages(a, 2));
  ASSERT_TRUE(wait_audio_pages(b, 3));
  std::this_thread::sleep_for(kQuiet);
  EXPECT_EQ(c.message_count(), 0u);
  b.close();
  ASSERT_TRUE(c.wait_messages(3));
  EXPECT_FALSE(a.end().ended);
}

TEST(SimQueue, LastConnectedPromptsWinWhenTheBugIsEmulated) {
  SimParams params = fast_params();
  params.last_connected_prompts_win = true;
  auto server = start(params);
  ASSERT_TRUE(server);
  RawWsClient first(options(*server));
  open_session(first);
  const std::string long_prompt(200, 'x');
  RawWsClient second(
      options(*server, "/api/chat?voice_prompt=NATF0.pt&text_prompt=" + long_prompt));
  ASSERT_TRUE(second.connect().ok);
  ASSERT_TRUE(server->wait_until([](const auto& s) { return s.size() == 2; }, 10s));
  RawWsClient third(options(*server, "/api/chat?voice_prompt=NATF0.pt&text_prompt=Hi"));
  ASSERT_TRUE(third.connect().ok);
  ASSERT_TRUE(server->wait_until([](const auto& s) { return s.size() == 3; }, 10s));
  first.close();
  ASSERT_TRUE(second.wait_messages(3));
  const auto reports = server->sessions();
  // The second client is primed with the third client's (short) prompt.
  EXPECT_EQ(reports[1].prompt_lm_steps,
            plan_prompt_phase(4, estimate_text_tokens("Hi")).lm_steps());
}

// --- the model over the wire ---------------------------------------------------------------------

struct Conversation {
  std::vector<int16_t> input;
  int64_t user_stopped_sample = 0;
};

Conversation utterance_then_silence(const std::string& words, int silence_ms) {
  Conversation c;
  c.input = silence(400);
  const auto speech = test::speak(words);
  c.input.insert(c.input.end(), speech.begin(), speech.end());
  c.user_stopped_sample = static_cast<int64_t>(c.input.size());
  const auto tail = silence(silence_ms);
  c.input.insert(c.input.end(), tail.begin(), tail.end());
  return c;
}

// The first page that is not digital silence (the model's silence decodes to zeros).
std::size_t first_sounding_page(const std::vector<test::OggPageInfo>& pages) {
  const auto pcm = test::decode_pages(pages);
  for (std::size_t p = 0; p < pages.size(); ++p) {
    const auto chunk = std::span<const int16_t>(pcm).subspan(p * 1920, 1920);
    if (test::rms(chunk) > 5.0) {
      return p;
    }
  }
  return pages.size();
}

TEST(SimModelWire, RepliesAfterTheUserStopsWithMatchingText) {
  SimParams params = fast_params();
  params.model.fixed_reply = "Sure, I can help you with that.";
  auto [server, client] = start_session(params);
  ASSERT_TRUE(client);
  const Conversation talk = utterance_then_silence("can you help me plan a trip to rome", 4000);
  ClientStream stream;
  send_headers(*client, stream);
  send_pages(*client, stream.audio_pages(talk.input)); // faster than real time: input-clocked
  const std::size_t frames = talk.input.size() / 1920;
  ASSERT_TRUE(wait_audio_pages(*client, frames));
  std::this_thread::sleep_for(kQuiet);
  const auto out = test::split_output(client->messages());
  ASSERT_EQ(out.audio_pages.size(), frames);

  const std::size_t reply_page = first_sounding_page(out.audio_pages);
  ASSERT_LT(reply_page, frames) << "no reply audio";
  // Page p carries the model's output for input samples [p*1920, (p+1)*1920).
  EXPECT_GE(static_cast<int64_t>(reply_page) * 1920, talk.user_stopped_sample);
  const auto pcm = test::decode_pages(out.audio_pages);
  EXPECT_GT(test::rms(std::span<const int16_t>(pcm).subspan(reply_page * 1920, 1920 * 12)), 500.0);

  const std::string text = std::accumulate(out.texts.begin(), out.texts.end(), std::string());
  EXPECT_EQ(text, " " + params.model.fixed_reply);
  ASSERT_FALSE(out.text_positions.empty());
  // Each piece arrives just before the page of its step, never before the reply started.
  EXPECT_GE(out.text_positions.front(), reply_page);
  EXPECT_LT(out.text_positions.back(), out.audio_pages.size());
  const auto report = server->sessions().at(0);
  EXPECT_EQ(report.replies, 1);
  ASSERT_EQ(report.reply_texts.size(), 1u);
  EXPECT_EQ(report.reply_texts[0], params.model.fixed_reply);
  EXPECT_EQ(report.text_pieces, static_cast<int>(out.texts.size()));
}

TEST(SimModelWire, UserInterruptionStopsTheReply) {
  SimParams params = fast_params();
  params.model.fixed_reply = "That is a long answer, and I will keep talking about it for quite a "
                             "while if nobody stops me.";
  auto [server, client] = start_session(params);
  ASSERT_TRUE(client);
  Conversation talk = utterance_then_silence("what do you think about music", 1500);
  const std::size_t barge_in = talk.input.size();
  const auto interruption = test::speak("hold on a second");
  talk.input.insert(talk.input.end(), interruption.begin(), interruption.end());
  const auto tail = silence(500);
  talk.input.insert(talk.input.end(), tail.begin(), tail.end());
  ClientStream stream;
  send_headers(*client, stream);
  send_pages(*client, stream.audio_pages(talk.input));
  const std::size_t frames = talk.input.size() / 1920;
  ASSERT_TRUE(wait_audio_pages(*client, frames));
  const auto out = test::split_output(client->messages());
  const auto report = server->sessions().at(0);
  EXPECT_EQ(report.interruptions, 1);
  // The reply's audio stops within a few steps of the barge-in and stays silent to the end.
  const auto pcm = test::decode_pages(out.audio_pages);
  const std::size_t stop_by = barge_in / 1920 + 4;
  ASSERT_LT(stop_by, frames);
  EXPECT_LT(test::rms(std::span<const int16_t>(pcm).subspan(stop_by * 1920)), 50.0);
  // Its text is cut short: a strict prefix of the sentence.
  const std::string text = std::accumulate(out.texts.begin(), out.texts.end(), std::string());
  const std::string full = " " + params.model.fixed_reply;
  EXPECT_LT(text.size(), full.size());
  EXPECT_EQ(full.rfind(text, 0), 0u) << text;
}

// --- faults --------------------------------------------------------------------------------------

std::unique_ptr<SimServer> start_with(SimFaults faults) {
  SimParams params = fast_params();
  params.faults = std::move(faults);
  return start(params);
}

LiveSession start_session(SimFaults faults) {
  SimParams params = fast_params();
  params.faults = std::move(faults);
  return start_session(params);
}

void stream_silence(RawWsClient& client, int ms) {
  ClientStream stream;
  send_headers(client, stream);
  send_pages(client, stream.audio_pages(silence(ms)));
}

TEST(SimFaults, DropAfterFramesClosesTcpAfterExactlyThosePages) {
  SimFaults faults;
  faults.drop_after_frames = 3;
  auto [server, client] = start_session(faults);
  ASSERT_TRUE(client);
  stream_silence(*client, 800);
  ASSERT_TRUE(client->wait_end());
  EXPECT_FALSE(client->end().close_frame);
  EXPECT_EQ(audio_pages(*client), 3u);
  EXPECT_EQ(server->sessions().at(0).faults, std::vector<std::string>{"drop"});
}

TEST(SimFaults, DropAfterZeroFramesComesRightAfterTheHeaders) {
  SimFaults faults;
  faults.drop_after_frames = 0;
  auto server = start_with(faults);
  ASSERT_TRUE(server);
  RawWsClient client(options(*server));
  ASSERT_TRUE(client.connect().ok);
  ASSERT_TRUE(client.wait_end());
  EXPECT_FALSE(client.end().close_frame);
  EXPECT_EQ(client.message_count(), 3u);
}

TEST(SimFaults, StallStopsReadingAndSendingButKeepsTheSocket) {
  SimFaults faults;
  faults.stall_after_frames = 2;
  auto [server, client] = start_session(faults);
  ASSERT_TRUE(client);
  stream_silence(*client, 800);
  ASSERT_TRUE(wait_audio_pages(*client, 2));
  client->ping("alive?");
  std::this_thread::sleep_for(kQuiet);
  EXPECT_EQ(audio_pages(*client), 2u);
  EXPECT_FALSE(client->end().ended);
  EXPECT_EQ(client->pongs(), 0);
  EXPECT_EQ(server->sessions().at(0).state, SimSessionState::stalled);
}

TEST(SimFaults, GarbageMessageAfterFramesThenNormalPages) {
  SimFaults faults;
  faults.garbage_after_frames = 1;
  auto [server, client] = start_session(faults);
  ASSERT_TRUE(client);
  stream_silence(*client, 240);
  // 3 pages + 1 garbage message, all kind 0x01.
  ASSERT_TRUE(wait_audio_pages(*client, 4));
  const auto out = test::split_output(client->messages());
  ASSERT_EQ(out.audio_pages.size(), 4u);
  EXPECT_TRUE(out.audio_pages[0].valid);
  EXPECT_FALSE(out.audio_pages[1].valid); // the garbage: not an Ogg page
  EXPECT_TRUE(out.audio_pages[2].valid && out.audio_pages[2].crc_ok);
  EXPECT_EQ(out.audio_pages[2].sequence, 3u); // the stream goes on where it was
  EXPECT_EQ(out.audio_pages[3].granule, 1920 * 3);
}

TEST(SimFaults, BadCrcPageAfterFrames) {
  SimFaults faults;
  faults.bad_crc_after_frames = 1;
  auto [server, client] = start_session(faults);
  ASSERT_TRUE(client);
  stream_silence(*client, 240);
  ASSERT_TRUE(wait_audio_pages(*client, 3));
  const auto out = test::split_output(client->messages());
  ASSERT_EQ(out.audio_pages.size(), 3u);
  EXPECT_TRUE(out.audio_pages[0].crc_ok);
  EXPECT_TRUE(out.audio_pages[1].valid);
  EXPECT_FALSE(out.audio_pages[1].crc_ok);
  EXPECT_EQ(out.audio_pages[1].sequence, 3u);
  EXPECT_TRUE(out.audio_pages[2].crc_ok);
}

TEST(SimFaults, CloseBeforeHandshakeDropsTcpDuringThePromptPhase) {
  SimFaults faults;
  faults.close_before_handshake = true;
  auto server = start_with(faults);
  ASSERT_TRUE(server);
  RawWsClient client(options(*server));
  ASSERT_TRUE(client.connect().ok);
  ASSERT_TRUE(client.wait_end());
  EXPECT_FALSE(client.end().close_frame);
  EXPECT_EQ(client.message_count(), 0u);
  ASSERT_TRUE(server->wait_until([](const auto& s) { return !s.empty() && s[0].ended; }, 10s));
  const auto report = server->sessions().at(0);
  const PromptPlan plan = plan_prompt_phase(4, estimate_text_tokens("Hi"));
  EXPECT_EQ(report.prompt_probes, plan.probes() / 2);
  EXPECT_FALSE(report.handshake_sent);
}

TEST(SimFaults, RejectStatusWithRetryAfterOnlyForTheChosenSession) {
  SimFaults faults;
  faults.reject_status = 503;
  faults.retry_after = "7";
  faults.session = 2;
  auto server = start_with(faults);
  ASSERT_TRUE(server);
  {
    RawWsClient one(options(*server));
    open_session(one);
    one.close();
    ASSERT_TRUE(one.wait_end());
  }
  RawWsClient two(options(*server));
  const auto upgrade = two.connect();
  EXPECT_FALSE(upgrade.ok);
  EXPECT_EQ(upgrade.http_status, 503);
  EXPECT_EQ(upgrade.retry_after, "7");
  RawWsClient three(options(*server));
  open_session(three);
  const auto reports = server->sessions();
  ASSERT_EQ(reports.size(), 3u);
  EXPECT_EQ(reports[1].state, SimSessionState::rejected);
}

TEST(SimFaults, SlowGpuPacesTheOutputBelowRealTime) {
  SimFaults faults;
  faults.slow_step_ms = 120;
  auto [server, client] = start_session(faults);
  ASSERT_TRUE(client);
  stream_silence(*client, 800); // 10 frames at once
  ASSERT_TRUE(wait_audio_pages(*client, 10));
  const auto messages = client->messages();
  // Steps are sequential sleeps of 120 ms: pages 1..10 are spread over at least 9 * 120 ms.
  const auto span = messages.back().at - messages[3].at;
  EXPECT_GE(span, 9 * 120ms - 20ms);
  EXPECT_EQ(audio_pages(*client), 10u);
}

// --- HTTP ----------------------------------------------------------------------------------------

TEST(SimHttp, RootIs200ChatWithoutUpgradeIs400LongLinesAre400) {
  auto server = start(fast_params());
  ASSERT_TRUE(server);
  httplib::Client http("127.0.0.1", server->port());
  http.set_connection_timeout(10);
  http.set_read_timeout(10);
  auto root = http.Get("/");
  ASSERT_TRUE(root);
  EXPECT_EQ(root->status, 200);
  EXPECT_NE(root->body.find("PersonaPlex"), std::string::npos);
  auto other = http.Get("/assets/index.js");
  ASSERT_TRUE(other);
  EXPECT_EQ(other->status, 200);
  auto chat = http.Get("/api/chat?text_prompt=Hi&voice_prompt=NATF0.pt");
  ASSERT_TRUE(chat);
  EXPECT_EQ(chat->status, 400);
  auto post = http.Post("/", "x", "text/plain");
  ASSERT_TRUE(post);
  EXPECT_EQ(post->status, 405);
  auto head = http.Head("/");
  ASSERT_TRUE(head);
  EXPECT_EQ(head->status, 200);
  auto options_request = http.Options("/");
  ASSERT_TRUE(options_request);
  EXPECT_EQ(options_request->status, 405); // like aiohttp: a health check must use GET
  auto post_chat = http.Post("/api/chat", "x", "text/plain");
  ASSERT_TRUE(post_chat);
  EXPECT_EQ(post_chat->status, 405);
  // Request line = "GET " + target + " HTTP/1.1": 8190 bytes is accepted, 8191 is not.
  const std::size_t overhead = 4 + 9;
  auto at_limit = http.Get("/" + std::string(8190 - overhead - 1, 'a'));
  ASSERT_TRUE(at_limit);
  EXPECT_EQ(at_limit->status, 200);
  auto over = http.Get("/" + std::string(8190 - overhead, 'a'));
  ASSERT_TRUE(over);
  EXPECT_EQ(over->status, 400);
  EXPECT_TRUE(server->sessions().empty()); // none of these is a session
}

TEST(SimHttp, LongPromptUrlUnderTheLimitIsAccepted) {
  SimParams params = fast_params();
  params.prompt_step_ms = 0; // ~2000 text tokens
  auto server = start(params);
  ASSERT_TRUE(server);
  const std::string prompt(7900, 'b'); // request line ~7960 bytes: over Beast's default header
  RawWsClient client(options(*server, "/api/chat?voice_prompt=NATF0.pt&text_prompt=" + prompt));
  open_session(client);
  EXPECT_EQ(server->sessions().at(0).text_tokens, estimate_text_tokens(prompt));
  RawWsClient too_long(options(*server, "/api/chat?voice_prompt=NATF0.pt&text_prompt=" + prompt +
                                            std::string(300, 'c')));
  const auto upgrade = too_long.connect();
  EXPECT_FALSE(upgrade.ok);
  EXPECT_EQ(upgrade.http_status, 400);
}

// --- TLS -----------------------------------------------------------------------------------------

TEST(SimTls, WssWithATestCaTrustedByTheClient) {
  pv::test::TlsTestCerts certs;
  SimParams params = fast_params();
  params.tls.cert_file = certs.server_cert.string();
  params.tls.key_file = certs.server_key.string();
  auto server = start(params);
  ASSERT_TRUE(server);
  EXPECT_TRUE(server->tls());
  EXPECT_EQ(server->url().rfind("wss://", 0), 0u);
  RawWsOptions o = options(*server);
  o.tls = true;
  o.ca_file = certs.ca_cert.string();
  RawWsClient client(o);
  open_session(client);
  EXPECT_EQ(client.messages()[1].bytes, kHeadMessage);
  ClientStream stream;
  send_headers(client, stream);
  send_pages(client, stream.audio_pages(silence(160)));
  ASSERT_TRUE(wait_audio_pages(client, 2));

  // A client that trusts another CA does not get in.
  RawWsOptions untrusted = o;
  untrusted.ca_file = certs.other_ca_cert.string();
  RawWsClient stranger(untrusted);
  const auto upgrade = stranger.connect();
  EXPECT_FALSE(upgrade.ok);
  EXPECT_NE(upgrade.error.find("tls"), std::string::npos) << upgrade.error;
}

// --- parameters ----------------------------------------------------------------------------------

TEST(SimServerCreate, RejectsBadParametersWithTypedErrors) {
  SimParams params = fast_params();
  params.max_sessions = 0;
  auto a = SimServer::create(params);
  ASSERT_FALSE(a);
  EXPECT_EQ(a.error().kind, SimErrorKind::invalid_params);
  params = fast_params();
  params.voices.voice_dir = "/nonexistent/voices";
  EXPECT_FALSE(SimServer::create(params));
  params = fast_params();
  params.faults.reject_status = 42;
  EXPECT_FALSE(SimServer::create(params));
  params = fast_params();
  params.model.tts_voice = "nobody";
  auto b = SimServer::create(params);
  ASSERT_FALSE(b);
  EXPECT_EQ(b.error().kind, SimErrorKind::speech_failed);
  params = fast_params();
  params.tls.cert_file = "/nonexistent/cert.pem";
  params.tls.key_file = "/nonexistent/key.pem";
  auto c = SimServer::create(params);
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().kind, SimErrorKind::listen_failed);
  // The port is taken.
  auto first = start(fast_params());
  ASSERT_TRUE(first);
  params = fast_params();
  params.port = first->port();
  auto d = SimServer::create(params);
  ASSERT_FALSE(d);
  EXPECT_EQ(d.error().kind, SimErrorKind::listen_failed);
}

TEST(SimServerCreate, StopWithLiveSessionsIsCleanAndIdempotent) {
  auto server = start(fast_params());
  ASSERT_TRUE(server);
  RawWsClient active(options(*server));
  open_session(active);
  RawWsClient queued(options(*server));
  ASSERT_TRUE(queued.connect().ok);
  server->stop();
  server->stop();
  ASSERT_TRUE(active.wait_end());
  ASSERT_TRUE(queued.wait_end());
  server.reset();
}

} // namespace
} // namespace pv::sim
