// TLS context factory: trust configuration errors are typed and name the file.

#include "net/tls.hpp"
#include "support/tls_certs.hpp"

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

namespace pv::net {
namespace {

TEST(TlsContext, ClientContextWithValidCaFile) {
  pv::test::TlsTestCerts certs;
  TlsClientParams params;
  params.ca_file = certs.ca_cert.string();
  auto ctx = make_client_tls_context(params);
  ASSERT_TRUE(ctx) << ctx.error().message;
  EXPECT_NE(*ctx, nullptr);
}

TEST(TlsContext, ClientContextsAreSharedPerTrustConfiguration) {
  pv::test::TlsTestCerts certs;
  pv::test::TlsTestCerts other;
  TlsClientParams a;
  a.ca_file = certs.ca_cert.string();
  TlsClientParams b;
  b.ca_file = other.ca_cert.string();
  TlsClientParams off;
  off.verify = false;
  auto a1 = make_client_tls_context(a);
  auto a2 = make_client_tls_context(a);
  auto b1 = make_client_tls_context(b);
  auto off1 = make_client_tls_context(off);
  ASSERT_TRUE(a1 && a2 && b1 && off1);
  EXPECT_EQ(*a1, *a2);
  EXPECT_NE(*a1, *b1);
  EXPECT_NE(*a1, *off1);
}

TEST(TlsContext, MissingCaFileIsNamed) {
  TlsClientParams params;
  params.ca_file = "/no/such/ca.pem";
  auto ctx = make_client_tls_context(params);
  ASSERT_FALSE(ctx);
  EXPECT_EQ(ctx.error().kind, TlsErrorKind::ca_file);
  EXPECT_NE(ctx.error().message.find("/no/such/ca.pem"), std::string::npos);
  EXPECT_NE(ctx.error().message.find("No such file"), std::string::npos) << ctx.error().message;
}

TEST(TlsContext, CaFileWithoutCertificatesIsRejected) {
  pv::test::TlsTestCerts certs;
  const auto path = certs.dir / "not-a-cert.pem";
  std::ofstream(path) << "this is not PEM\n";
  TlsClientParams params;
  params.ca_file = path.string();
  auto ctx = make_client_tls_context(params);
  ASSERT_FALSE(ctx);
  EXPECT_EQ(ctx.error().kind, TlsErrorKind::ca_file);
  EXPECT_NE(ctx.error().message.find(path.string()), std::string::npos);
  EXPECT_NE(ctx.error().message.find("no PEM certificate"), std::string::npos)
      << ctx.error().message;
}

TEST(TlsContext, CorruptPemIsRejected) {
  pv::test::TlsTestCerts certs;
  const auto path = certs.dir / "corrupt.pem";
  std::ofstream(path) << "-----BEGIN CERTIFICATE-----\nAAAA!!!!\n-----END CERTIFICATE-----\n";
  TlsClientParams params;
  params.ca_file = path.string();
  auto ctx = make_client_tls_context(params);
  ASSERT_FALSE(ctx);
  EXPECT_EQ(ctx.error().kind, TlsErrorKind::ca_file);
  EXPECT_NE(ctx.error().message.find(path.string()), std::string::npos);
}

TEST(TlsContext, VerifyFalseIgnoresTheCaFile) {
  TlsClientParams params;
  params.verify = false;
  params.ca_file = "/no/such/ca.pem";
  EXPECT_TRUE(make_client_tls_context(params));
}

TEST(TlsContext, ServerContextErrorsNameTheFile) {
  pv::test::TlsTestCerts certs;
  pv::test::TlsTestCerts other;
  auto ok = make_server_tls_context({certs.server_cert.string(), certs.server_key.string()});
  ASSERT_TRUE(ok) << ok.error().message;

  auto bad_cert = make_server_tls_context({"/no/cert.pem", certs.server_key.string()});
  ASSERT_FALSE(bad_cert);
  EXPECT_EQ(bad_cert.error().kind, TlsErrorKind::cert_file);
  EXPECT_NE(bad_cert.error().message.find("/no/cert.pem"), std::string::npos);

  auto bad_key = make_server_tls_context({certs.server_cert.string(), "/no/key.pem"});
  ASSERT_FALSE(bad_key);
  EXPECT_EQ(bad_key.error().kind, TlsErrorKind::key_file);

  auto mismatch = make_server_tls_context({certs.server_cert.string(), other.server_key.string()});
  ASSERT_FALSE(mismatch);
  EXPECT_EQ(mismatch.error().kind, TlsErrorKind::key_file);
}

TEST(TlsTestCerts, DirectoryIsRemoved) {
  std::filesystem::path dir;
  {
    pv::test::TlsTestCerts certs;
    dir = certs.dir;
    EXPECT_TRUE(std::filesystem::exists(certs.server_key));
    EXPECT_NE(certs.ca_pem, certs.other_ca_pem);
  }
  EXPECT_FALSE(std::filesystem::exists(dir));
}

} // namespace
} // namespace pv::net
