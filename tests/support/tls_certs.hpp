#pragma once
// Throw-away PKI for TLS tests, generated in-process with OpenSSL 3 (EC P-256, SHA-256):
//  * a CA, and a server certificate signed by it for the names in TlsTestCertParams (by default
//    DNS "localhost", IP 127.0.0.1 and ::1);
//  * a second, unrelated CA (its certificate is the "untrusted" anchor in negative tests).
// PEM files are written to a fresh temporary directory that the destructor removes.
//
// Usage: `pv::test::TlsTestCerts certs;` then certs.ca_cert / certs.server_cert /
// certs.server_key paths for servers (WsServer, cpp-httplib SSLServer) and clients (ca_file).

#include <filesystem>
#include <string>
#include <vector>

namespace pv::test {

struct TlsTestCertParams {
  std::vector<std::string> dns_names = {"localhost"};
  std::vector<std::string> ip_addresses = {"127.0.0.1", "::1"};
  int valid_days = 7;
};

class TlsTestCerts {
public:
  // Generates everything; throws std::runtime_error (with the OpenSSL reason) on failure.
  explicit TlsTestCerts(const TlsTestCertParams& params = {});
  ~TlsTestCerts();
  TlsTestCerts(const TlsTestCerts&) = delete;
  TlsTestCerts& operator=(const TlsTestCerts&) = delete;

  std::filesystem::path dir;
  std::filesystem::path ca_cert;       // the trusted test CA (PEM)
  std::filesystem::path server_cert;   // server leaf certificate signed by ca_cert (PEM)
  std::filesystem::path server_key;    // its private key (PEM, PKCS#8)
  std::filesystem::path other_ca_cert; // an unrelated CA that did not sign the server cert

  std::string ca_pem;
  std::string server_cert_pem;
  std::string server_key_pem;
  std::string other_ca_pem;

private:
  void generate(const TlsTestCertParams& params);
};

// One default TlsTestCerts for the whole test binary, made on first use (generation is the slow
// part); its directory is removed at exit.
const TlsTestCerts& shared_tls_certs();

} // namespace pv::test
