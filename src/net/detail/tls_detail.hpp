#pragma once
// OpenSSL-level helpers shared by the WebSocket (Asio) and HTTP (libcurl) clients. Internal to
// src/net.

#include "net/tls.hpp"

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <boost/system/error_code.hpp>
#include <openssl/ssl.h>
#include <openssl/x509.h>

namespace pv::net::detail {

struct X509Deleter {
  void operator()(X509* cert) const { X509_free(cert); }
};
using X509Ptr = std::unique_ptr<X509, X509Deleter>;

// Reads every PEM certificate in `path`; errors name the file.
tl::expected<std::vector<X509Ptr>, TlsError> load_pem_certificates(const std::string& path);

// Adds the certificates to the context's trust store (duplicates are ignored).
void add_trusted_certificates(SSL_CTX* ctx, const std::vector<X509Ptr>& certs);

// Per-connection client set-up: SNI for DNS names, and (when verifying) the expected peer name,
// checked by OpenSSL during the handshake: a DNS name against the SANs, an IP literal against
// the IP SANs. Returns false with `error` set if OpenSSL refuses the name.
bool configure_client_connection(SSL* ssl, const TlsClientParams& params, std::string_view host,
                                 std::string& error);

// A readable reason for a failed TLS handshake, e.g. "certificate verify failed: unable to get
// local issuer certificate" (the verify result is added when the chain or name was rejected).
std::string describe_tls_failure(const boost::system::error_code& ec, const SSL* ssl);

} // namespace pv::net::detail
