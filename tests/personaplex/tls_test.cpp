// wss:// against the simulator with a throw-away PKI generated in the test: the test CA trusted
// through the CA file passes, an untrusted chain or a host-name mismatch is tls_error, and
// PERSONAPLEX_SSL_INSECURE=true passes without verification (also through the backend built
// from the settings).

#include "personaplex/client_session.hpp"
#include "personaplex/duplex_backend.hpp"

#include "net/io_thread.hpp"
#include "pp_test_util.hpp"
#include "support/tls_certs.hpp"

#include <gtest/gtest.h>

namespace pv::personaplex {
namespace {

using conversation::ErrorKind;
using test::kWait;
using namespace std::chrono_literals;

struct TlsSim {
  pv::test::TlsTestCerts certs;
  std::unique_ptr<sim::SimServer> server;

  explicit TlsSim(const std::string& host = "127.0.0.1") {
    auto params = test::fast_sim_params();
    params.host = host;
    params.tls.cert_file = certs.server_cert.string();
    params.tls.key_file = certs.server_key.string();
    server = test::start_sim(params);
  }
};

// Runs a session to its handshake (or failure) and returns the error kind, if any.
std::optional<conversation::BackendError> handshake(const std::string& url,
                                                    const net::TlsClientParams& tls) {
  net::IoThread io;
  auto params = test::session_params(url);
  params.tls = tls;
  auto created = ClientSession::create(io.context(), params);
  if (!created) {
    return created.error();
  }
  auto session = *created;
  session->start();
  test::wait_for([&] { return session->handshake_done() || session->ended(); });
  if (session->handshake_done()) {
    session->close();
    test::wait_for([&] { return session->ended(); });
    return std::nullopt;
  }
  return session->error();
}

TEST(ClientSessionTls, TrustedTestCaPassesUntrustedFailsInsecurePasses) {
  TlsSim sim;
  ASSERT_TRUE(sim.server);
  ASSERT_TRUE(sim.server->tls());
  const std::string url = test::chat_url(*sim.server);
  ASSERT_EQ(url.rfind("wss://127.0.0.1:", 0), 0u) << url;

  net::TlsClientParams trusted;
  trusted.ca_file = sim.certs.ca_cert.string();
  EXPECT_FALSE(handshake(url, trusted).has_value());

  net::TlsClientParams other_ca;
  other_ca.ca_file = sim.certs.other_ca_cert.string();
  auto untrusted = handshake(url, other_ca);
  ASSERT_TRUE(untrusted.has_value());
  EXPECT_EQ(untrusted->kind, ErrorKind::tls_error) << untrusted->message;
  EXPECT_NE(untrusted->message.find("verify"), std::string::npos) << untrusted->message;
  EXPECT_FALSE(untrusted->retryable);

  auto system_only = handshake(url, net::TlsClientParams{});
  ASSERT_TRUE(system_only.has_value());
  EXPECT_EQ(system_only->kind, ErrorKind::tls_error);

  net::TlsClientParams insecure;
  insecure.verify = false;
  EXPECT_FALSE(handshake(url, insecure).has_value());

  const auto sessions = sim.server->sessions();
  ASSERT_EQ(sessions.size(), 2u); // the two verified-out attempts never reached /api/chat
  for (const auto& s : sessions) {
    EXPECT_TRUE(s.handshake_sent);
  }
}

TEST(ClientSessionTls, HostNameMismatchIsTlsError) {
  // The certificate names localhost, 127.0.0.1 and ::1; the server listens on 127.0.0.2.
  TlsSim sim("127.0.0.2");
  ASSERT_TRUE(sim.server);
  const std::string url = test::chat_url(*sim.server);
  ASSERT_EQ(url.rfind("wss://127.0.0.2:", 0), 0u) << url;
  net::TlsClientParams trusted;
  trusted.ca_file = sim.certs.ca_cert.string();
  auto mismatch = handshake(url, trusted);
  ASSERT_TRUE(mismatch.has_value());
  EXPECT_EQ(mismatch->kind, ErrorKind::tls_error);
  EXPECT_NE(mismatch->message.find("mismatch"), std::string::npos) << mismatch->message;
}

TEST(ClientSessionTls, AMissingCaFileIsATypedErrorBeforeAnyConnection) {
  net::IoThread io;
  auto params = test::session_params("wss://127.0.0.1:1/api/chat?text_prompt=x&voice_prompt=y");
  params.tls.ca_file = "/nonexistent/rootCA.pem";
  auto created = ClientSession::create(io.context(), params);
  ASSERT_FALSE(created.has_value());
  EXPECT_EQ(created.error().kind, ErrorKind::tls_error);
  EXPECT_NE(created.error().message.find("/nonexistent/rootCA.pem"), std::string::npos);
}

TEST(DuplexBackendTls, SslInsecureFromTheSettingsStreamsOverWss) {
  TlsSim sim;
  ASSERT_TRUE(sim.server);
  config::PersonaPlexSettings settings;
  settings.server_url = "https://127.0.0.1:" + std::to_string(sim.server->port());
  settings.voice_prompt = "NATF1";
  settings.text_prompt = "You are a test.";
  settings.ssl_insecure = true;
  auto options = options_from_settings(settings, "outpost-1", "agent-9");
  ASSERT_TRUE(options.has_value());
  EXPECT_EQ(options->endpoint.rfind("wss://", 0), 0u);
  test::RecordingObserver observer;
  test::RoomDriver driver;
  DuplexBackend backend(*options);
  ASSERT_TRUE(backend.start(driver.context(observer)));
  driver.start(backend, 10ms);
  ASSERT_TRUE(
      sim.server->wait_until([](const auto& s) { return !s.empty() && s[0].steps > 10; }, kWait));
  driver.stop();
  backend.stop();
  EXPECT_TRUE(observer.errors().empty()) << testing::PrintToString(observer.events());
  const auto session = sim.server->sessions().at(0);
  EXPECT_EQ(session.voice_prompt, "NATF1.pt");
  EXPECT_TRUE(session.input_error.empty());

  // With verification on and no CA file, the same settings fail the TLS handshake: the backend
  // reports tls_error and health false, and keeps retrying with backoff.
  settings.ssl_insecure = false;
  auto verified = options_from_settings(settings, "outpost-1", "agent-9");
  ASSERT_TRUE(verified.has_value());
  verified->reconnect_min_ms = 50;
  verified->reconnect_max_ms = 100;
  test::RecordingObserver failing;
  test::RoomDriver driver2;
  DuplexBackend refused(*verified);
  ASSERT_TRUE(refused.start(driver2.context(failing)));
  driver2.start(refused, 10ms);
  ASSERT_TRUE(test::wait_for([&] { return failing.errors().size() >= 3; }));
  driver2.stop();
  refused.stop();
  for (const auto& e : failing.errors()) {
    EXPECT_EQ(e.kind, ErrorKind::tls_error) << e.message;
  }
  EXPECT_EQ(failing.health(), (std::vector<bool>{false}));
  EXPECT_GE(refused.stats().sessions_opened, 3);
}

} // namespace
} // namespace pv::personaplex
