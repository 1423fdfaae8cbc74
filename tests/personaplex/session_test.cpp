// ClientSession against the PersonaPlex simulator (src/sim, the real wire protocol): the happy
// path, "nothing before the handshake", a clean Close, and every typed failure provoked by the
// simulator's fault injection. TLS is in tls_test.cpp.

#include "personaplex/client_session.hpp"

#include "net/io_thread.hpp"
#include "pp_test_util.hpp"

#include <numeric>

#include <gtest/gtest.h>

namespace pv::personaplex {
namespace {

using conversation::ErrorKind;
using test::kWait;
using test::SessionDriver;
using namespace std::chrono_literals;

std::shared_ptr<ClientSession> make_session(net::IoThread& io, SessionParams params) {
  auto session = ClientSession::create(io.context(), std::move(params));
  EXPECT_TRUE(session.has_value()) << (session ? "" : session.error().message);
  return session ? *session : nullptr;
}

// Waits for the session to fail and returns its error kind.
std::optional<conversation::BackendError> wait_failure(const ClientSession& session,
                                                       std::chrono::milliseconds timeout = kWait) {
  test::wait_for([&] { return session.ended(); }, timeout);
  EXPECT_EQ(session.state(), SessionState::failed) << to_string(session.state());
  return session.error();
}

TEST(ClientSession, ConversationOverTheWireRepliesAfterTheUserWithTheSimulatorsWords) {
  auto params = test::fast_sim_params();
  params.model.fixed_reply = "Sure, I can help you with that.";
  auto server = test::start_sim(params);
  ASSERT_TRUE(server);
  net::IoThread io;
  auto session = make_session(io, test::session_params(test::chat_url(*server)));
  ASSERT_TRUE(session);
  session->start();

  auto input = test::silence(24000, 300);
  test::append(input, test::speak("can you help me plan a trip to rome", 24000));
  const std::size_t user_stops = input.size();
  test::append(input, test::silence(24000, 4000));
  // The server is input-clocked: driving it 4x faster than real time is fine (and quicker).
  SessionDriver driver(session, input, 5ms);
  ASSERT_TRUE(test::wait_for([&] { return session->transcript().size() >= 32; }));
  ASSERT_TRUE(
      test::wait_for([&] { return driver.sent() * 480 >= static_cast<int64_t>(input.size()); }));
  driver.stop();

  EXPECT_EQ(session->state(), SessionState::streaming);
  EXPECT_EQ(session->transcript(), " " + params.model.fixed_reply);
  const auto timings = session->timings();
  EXPECT_GE(timings.connected_ms, 0);
  EXPECT_GE(timings.handshake_ms, timings.connected_ms);
  EXPECT_GE(timings.first_audio_ms, timings.handshake_ms);
  EXPECT_GE(timings.first_audible_ms, timings.first_audio_ms);

  // The reply is in the playout output, after the user stopped (48 kHz = 2 x 24 kHz samples).
  const auto out = driver.output();
  std::size_t first_loud = out.size();
  for (std::size_t i = 0; i + 960 <= out.size(); i += 960) {
    double energy = 0;
    for (std::size_t k = 0; k < 960; ++k) {
      energy += static_cast<double>(out[i + k]) * out[i + k];
    }
    if (std::sqrt(energy / 960) > 300) {
      first_loud = i;
      break;
    }
  }
  ASSERT_LT(first_loud, out.size()) << "no reply audio was played";
  // Sent frame k (20 ms) produces output at pull >= k; the reply cannot precede the user's end.
  EXPECT_GE(first_loud, 2 * user_stops) << "reply started before the user stopped";

  const auto counters = session->counters();
  EXPECT_GT(counters.pages_sent, 200);
  EXPECT_EQ(counters.frames_dropped, 0);
  EXPECT_GE(counters.pages_received, 2 + counters.pages_sent / 4 - 8); // 80 ms out per 80 ms in
  EXPECT_EQ(counters.text_pieces, static_cast<int64_t>(server->sessions().at(0).text_pieces));
  std::vector<TextPiece> pieces;
  EXPECT_EQ(session->copy_text(0, pieces), static_cast<std::size_t>(counters.text_pieces));
  for (std::size_t i = 1; i < pieces.size(); ++i) {
    EXPECT_GE(pieces[i].media_ms, pieces[i - 1].media_ms);
  }

  session->close();
  ASSERT_TRUE(test::wait_for([&] { return session->ended(); }));
  EXPECT_EQ(session->state(), SessionState::closed);
  EXPECT_FALSE(session->error().has_value());
  ASSERT_TRUE(server->wait_until([](const auto& s) { return !s.empty() && s[0].ended; }, kWait));
  const auto report = server->sessions().at(0);
  EXPECT_TRUE(report.input_error.empty()) << report.input_error;
  EXPECT_NE(report.end_reason.find("closed (1000)"), std::string::npos) << report.end_reason;
  EXPECT_EQ(report.replies, 1);
}

TEST(ClientSession, SendsNothingBeforeTheHandshake) {
  auto params = test::fast_sim_params();
  params.prompt_step_ms = 15; // a prompt phase of ~0.3 s + the text steps
  params.voices.default_frames = 10;
  auto server = test::start_sim(params);
  ASSERT_TRUE(server);
  net::IoThread io;
  auto session = make_session(io, test::session_params(test::chat_url(*server)));
  ASSERT_TRUE(session);
  session->start();
  SessionDriver driver(session, {}, 5ms); // tries to send from the first tick on
  ASSERT_TRUE(test::wait_for([&] { return session->counters().pages_received > 20; }));
  driver.stop();
  const auto counters = session->counters();
  EXPECT_GT(counters.frames_before_handshake, 10) << "the driver did try to send early";
  const auto report = server->sessions().at(0);
  EXPECT_GT(report.prompt_probes, 20);
  EXPECT_EQ(report.swallowed_messages, 0); // the simulator swallows anything early: nothing came
  EXPECT_TRUE(report.input_error.empty()) << report.input_error; // the BOS page was not lost
  EXPECT_TRUE(report.handshake_sent);
}

TEST(ClientSession, RefusedPortIsConnectRefused) {
  net::IoThread io;
  auto params = test::session_params("ws://127.0.0.1:" + std::to_string(test::unused_port()) +
                                     "/api/chat?text_prompt=Hi&voice_prompt=NATF0.pt");
  auto session = make_session(io, params);
  ASSERT_TRUE(session);
  session->start();
  auto error = wait_failure(*session);
  ASSERT_TRUE(error);
  EXPECT_EQ(error->kind, ErrorKind::connect_refused) << error->message;
  EXPECT_TRUE(error->retryable);
  // Sending after the failure is refused, never queued.
  std::vector<int16_t> frame(kSendFrameSamples, 0);
  EXPECT_EQ(session->send_frame_24k(frame), ClientSession::SendResult::closed);
}

TEST(ClientSession, PoolRejection429And503AreHttpRejectedWithRetryAfter) {
  for (int status : {429, 503}) {
    auto params = test::fast_sim_params();
    params.faults.reject_status = status;
    params.faults.retry_after = "7";
    auto server = test::start_sim(params);
    ASSERT_TRUE(server);
    net::IoThread io;
    auto session = make_session(io, test::session_params(test::chat_url(*server)));
    ASSERT_TRUE(session);
    session->start();
    auto error = wait_failure(*session);
    ASSERT_TRUE(error);
    EXPECT_EQ(error->kind, ErrorKind::http_rejected) << error->message;
    EXPECT_NE(error->message.find(std::to_string(status)), std::string::npos) << error->message;
    EXPECT_TRUE(error->retryable);
    EXPECT_EQ(session->retry_after(), "7");
  }
}

TEST(ClientSession, BadParametersAreClosedBeforeHandshake) {
  auto server = test::start_sim(test::fast_sim_params());
  ASSERT_TRUE(server);
  net::IoThread io;
  // An unknown voice file, and `seed` (the reference server drops both right after the 101).
  const std::vector<std::string> urls = {test::chat_url(*server, "Hi", "NOPE.pt"),
                                         test::chat_url(*server, "Hi", "NATF0.pt", 42)};
  for (const auto& url : urls) {
    auto session = make_session(io, test::session_params(url));
    ASSERT_TRUE(session);
    session->start();
    auto error = wait_failure(*session);
    ASSERT_TRUE(error) << url;
    EXPECT_EQ(error->kind, ErrorKind::closed_before_handshake) << error->message;
    EXPECT_NE(error->message.find("without a Close frame"), std::string::npos) << error->message;
    EXPECT_GE(session->timings().connected_ms, 0) << "the 101 did arrive";
  }
  // The fault that drops TCP in the middle of the prompt phase is reported the same way.
  auto params = test::fast_sim_params();
  params.faults.close_before_handshake = true;
  auto faulty = test::start_sim(params);
  ASSERT_TRUE(faulty);
  auto session = make_session(io, test::session_params(test::chat_url(*faulty)));
  ASSERT_TRUE(session);
  session->start();
  auto error = wait_failure(*session);
  ASSERT_TRUE(error);
  EXPECT_EQ(error->kind, ErrorKind::closed_before_handshake) << error->message;
}

TEST(ClientSession, QueuedBehindAnotherSessionIsHandshakeTimeout) {
  auto server = test::start_sim(test::fast_sim_params());
  ASSERT_TRUE(server);
  net::IoThread io;
  auto first = make_session(io, test::session_params(test::chat_url(*server)));
  ASSERT_TRUE(first);
  first->start();
  SessionDriver first_driver(first, {}, 20ms);
  ASSERT_TRUE(test::wait_for([&] { return first->handshake_done(); }));

  auto params = test::session_params(test::chat_url(*server));
  params.handshake_timeout_ms = 800;
  auto second = make_session(io, params);
  ASSERT_TRUE(second);
  second->start();
  auto error = wait_failure(*second);
  ASSERT_TRUE(error);
  EXPECT_EQ(error->kind, ErrorKind::handshake_timeout) << error->message;
  EXPECT_GE(second->timings().connected_ms, 0);
  EXPECT_GE(second->timings().ended_ms, 800);
  EXPECT_EQ(server->sessions().at(1).queued_behind, 1);
  // The first session is not disturbed.
  const auto before = first->counters().pages_received;
  ASSERT_TRUE(test::wait_for([&] { return first->counters().pages_received > before + 3; }));
  EXPECT_EQ(first->state(), SessionState::streaming);
}

struct FaultCase {
  const char* name;
  sim::SimFaults faults;
  ErrorKind expected;
};

TEST(ClientSession, MidSessionFaultsAreTyped) {
  std::vector<FaultCase> cases;
  {
    sim::SimFaults f;
    f.drop_after_frames = 10;
    cases.push_back({"drop", f, ErrorKind::server_closed});
  }
  {
    sim::SimFaults f;
    f.garbage_after_frames = 5;
    cases.push_back({"garbage", f, ErrorKind::decode_error});
  }
  {
    sim::SimFaults f;
    f.bad_crc_after_frames = 5;
    cases.push_back({"bad crc", f, ErrorKind::decode_error});
  }
  {
    sim::SimFaults f;
    f.stall_after_frames = 5;
    cases.push_back({"stall", f, ErrorKind::no_audio});
  }
  net::IoThread io;
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    auto params = test::fast_sim_params();
    params.faults = c.faults;
    auto server = test::start_sim(params);
    ASSERT_TRUE(server);
    auto session_params = test::session_params(test::chat_url(*server));
    session_params.no_audio_timeout_ms = 700;
    auto session = make_session(io, session_params);
    ASSERT_TRUE(session);
    session->start();
    SessionDriver driver(session, {}, 10ms);
    auto error = wait_failure(*session);
    driver.stop();
    ASSERT_TRUE(error);
    EXPECT_EQ(error->kind, c.expected) << error->message;
    EXPECT_TRUE(error->retryable);
    EXPECT_TRUE(session->handshake_done());
    EXPECT_GE(session->counters().pages_received, 2 + 4);
    const auto report = server->sessions().at(0);
    EXPECT_FALSE(report.faults.empty()) << "the fault did fire";
  }
}

} // namespace
} // namespace pv::personaplex
