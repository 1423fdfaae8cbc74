// wss:// certificate verification with a PKI generated in the test.

#include "net/io_thread.hpp"
#include "net/tls.hpp"
#include "net/ws_client.hpp"
#include "net/ws_server.hpp"
#include "support/tls_certs.hpp"
#include "ws_test_util.hpp"

#include <fstream>

#include <gtest/gtest.h>

namespace pv::net {
namespace {

using testing::ClientRecorder;
using testing::ServerRecorder;

class WsTlsTest : public ::testing::Test {
protected:
  void SetUp() override {
    WsServerParams params;
    params.tls.cert_file = certs_.server_cert.string();
    params.tls.key_file = certs_.server_key.string();
    auto server = WsServer::create(server_io_.context(), params, srv_.handlers());
    ASSERT_TRUE(server) << server.error().describe();
    server_ = std::move(*server);
  }

  // Connects with `params` (url filled in from `host` when empty) and waits for the outcome.
  WsError connect_and_wait(WsClientParams params, ClientRecorder& rec,
                           const std::string& host = "localhost") {
    if (params.url.empty()) {
      params.url = "wss://" + host + ":" + std::to_string(server_->port()) + "/";
    }
    auto client = WsClient::create(client_io_.context(), params, rec.handlers());
    EXPECT_TRUE(client) << client.error().describe();
    if (!client) {
      return client.error();
    }
    client->connect();
    rec.wait_open(); // returns on open or on failure
    if (rec.opens() > 0) {
      client->close();
      EXPECT_TRUE(rec.wait_close());
    }
    return rec.close_reason();
  }

  const pv::test::TlsTestCerts& certs_ = pv::test::shared_tls_certs();
  IoThread server_io_{"wss-server"};
  IoThread client_io_{"wss-client"};
  ServerRecorder srv_;
  std::unique_ptr<WsServer> server_;
};

TEST_F(WsTlsTest, TrustedCaFileVerifiesDnsName) {
  ClientRecorder rec;
  WsClientParams params;
  params.tls.ca_file = certs_.ca_cert.string();
  const WsError end = connect_and_wait(params, rec, "localhost");
  EXPECT_EQ(rec.opens(), 1) << end.describe();
  EXPECT_TRUE(rec.open_info().tls);
  EXPECT_EQ(end.kind, WsErrorKind::closed);
  EXPECT_TRUE(end.local);
}

TEST_F(WsTlsTest, TrustedCaFileVerifiesIpAddress) {
  ClientRecorder rec;
  WsClientParams params;
  params.tls.ca_file = certs_.ca_cert.string();
  const WsError end = connect_and_wait(params, rec, "127.0.0.1");
  EXPECT_EQ(rec.opens(), 1) << end.describe();
}

TEST_F(WsTlsTest, UntrustedCaIsATlsErrorSayingVerificationFailed) {
  ClientRecorder rec;
  WsClientParams params;
  params.tls.ca_file = certs_.other_ca_cert.string();
  const WsError end = connect_and_wait(params, rec);
  EXPECT_EQ(rec.opens(), 0);
  EXPECT_EQ(end.kind, WsErrorKind::tls_error) << end.describe();
  EXPECT_NE(end.message.find("certificate verify failed"), std::string::npos) << end.message;
  EXPECT_NE(end.message.find("unable to get local issuer certificate"), std::string::npos)
      << end.message;
  EXPECT_EQ(srv_.connection(), nullptr); // the server never saw an upgrade
}

TEST_F(WsTlsTest, SystemCasAloneDoNotTrustTheTestCa) {
  ClientRecorder rec;
  const WsError end = connect_and_wait({}, rec);
  EXPECT_EQ(end.kind, WsErrorKind::tls_error) << end.describe();
  EXPECT_NE(end.message.find("certificate verify failed"), std::string::npos) << end.message;
}

TEST_F(WsTlsTest, VerifyFalseAcceptsAnUntrustedCertificate) {
  ClientRecorder rec;
  WsClientParams params;
  params.tls.verify = false;
  params.tls.server_name = "not-the-cert-name.example";
  const WsError end = connect_and_wait(params, rec);
  EXPECT_EQ(rec.opens(), 1) << end.describe();
}

TEST_F(WsTlsTest, WrongHostNameIsATlsError) {
  ClientRecorder rec;
  WsClientParams params;
  params.tls.ca_file = certs_.ca_cert.string();
  params.tls.server_name = "wrong.example"; // the certificate is for localhost/127.0.0.1/::1
  const WsError end = connect_and_wait(params, rec, "127.0.0.1");
  EXPECT_EQ(rec.opens(), 0);
  EXPECT_EQ(end.kind, WsErrorKind::tls_error) << end.describe();
  EXPECT_NE(end.message.find("hostname mismatch"), std::string::npos) << end.message;
}

TEST_F(WsTlsTest, WrongIpAddressIsATlsError) {
  ClientRecorder rec;
  WsClientParams params;
  params.tls.ca_file = certs_.ca_cert.string();
  params.tls.server_name = "127.0.0.2";
  const WsError end = connect_and_wait(params, rec, "127.0.0.1");
  EXPECT_EQ(end.kind, WsErrorKind::tls_error) << end.describe();
  EXPECT_NE(end.message.find("IP address mismatch"), std::string::npos) << end.message;
}

TEST_F(WsTlsTest, SharedContextServesSeveralClients) {
  TlsClientParams tls;
  tls.ca_file = certs_.ca_cert.string();
  auto ctx = make_client_tls_context(tls);
  ASSERT_TRUE(ctx) << ctx.error().message;
  for (int i = 0; i < 3; ++i) {
    ClientRecorder rec;
    WsClientParams params;
    params.tls_context = *ctx;
    const WsError end = connect_and_wait(params, rec);
    EXPECT_EQ(rec.opens(), 1) << end.describe();
  }
}

TEST_F(WsTlsTest, MissingCaFileFailsCreationNamingTheFile) {
  WsClientParams params;
  params.url = server_->url();
  params.tls.ca_file = "/nonexistent/dir/mkcert-root.pem";
  auto client = WsClient::create(client_io_.context(), params, {});
  ASSERT_FALSE(client);
  EXPECT_EQ(client.error().kind, WsErrorKind::tls_error);
  EXPECT_NE(client.error().message.find("/nonexistent/dir/mkcert-root.pem"), std::string::npos);
}

TEST_F(WsTlsTest, PlainClientAgainstTlsServerFailsCleanly) {
  ClientRecorder rec;
  WsClientParams params;
  params.url = "ws://127.0.0.1:" + std::to_string(server_->port()) + "/";
  params.connect_timeout_ms = 5000;
  const WsError end = connect_and_wait(params, rec);
  // The TLS server cannot parse an HTTP request as a handshake and hangs up.
  EXPECT_EQ(rec.opens(), 0);
  EXPECT_EQ(end.kind, WsErrorKind::closed) << end.describe();
  EXPECT_FALSE(end.close_frame);
  EXPECT_NE(end.message.find("during the WebSocket upgrade"), std::string::npos) << end.message;
}

TEST(WsServerTls, BadCertificateFileIsNamed) {
  IoThread io;
  WsServerParams params;
  params.tls.cert_file = "/nonexistent/cert.pem";
  params.tls.key_file = "/nonexistent/key.pem";
  auto server = WsServer::create(io.context(), params, {});
  ASSERT_FALSE(server);
  EXPECT_EQ(server.error().kind, WsErrorKind::invalid_argument);
  EXPECT_NE(server.error().message.find("/nonexistent/cert.pem"), std::string::npos)
      << server.error().message;
}

} // namespace
} // namespace pv::net
