#pragma once
// TLS contexts for the network layer (OpenSSL 3 through Boost.Asio's ssl::context).
//
// Client: the system trust store (set_default_verify_paths) plus an optional extra CA file (an
// mkcert or self-signed root, PEM), peer verification on by default. Host-name checking and SNI
// are per connection (the WebSocket client applies them to each stream from `server_name`, or
// from the URL host when empty); OpenSSL itself checks the name, so a mismatch fails the
// handshake with "certificate verify failed: hostname mismatch" (or "IP address mismatch").
// `verify = false` turns all checks off: the caller must log a loud warning.
//
// Contexts are immutable after creation and may be shared between connections and threads.

#include <memory>
#include <string>

#include <tl/expected.hpp>

namespace boost::asio::ssl {
class context;
} // namespace boost::asio::ssl

namespace pv::net {

struct TlsClientParams {
  bool verify = true;      // verify the peer's chain and host name
  std::string ca_file;     // extra trusted root(s), PEM; added to the system CAs
  std::string server_name; // name to verify and send as SNI; empty = the URL host
};

struct TlsServerParams {
  std::string cert_file; // PEM certificate chain (leaf first)
  std::string key_file;  // PEM private key
};

enum class TlsErrorKind {
  ca_file,    // the extra CA file is missing, unreadable or holds no certificate
  cert_file,  // server certificate missing or invalid
  key_file,   // server key missing, invalid or not matching the certificate
  system_cas, // the system trust store could not be set up
};

struct TlsError {
  TlsErrorKind kind = TlsErrorKind::ca_file;
  std::string message; // names the file and the OpenSSL reason
};

const char* to_string(TlsErrorKind kind);

using SslContextPtr = std::shared_ptr<boost::asio::ssl::context>;

// A client context (TLS 1.2+). Fails with a message naming the CA file when it cannot be used.
// Contexts are cached per (verify, ca_file) for the life of the process: the system store and
// the CA file are read by the first call only (that costs ~16 ms; later calls are free).
tl::expected<SslContextPtr, TlsError> make_client_tls_context(const TlsClientParams& params);

// A server context (TLS 1.2+) from PEM files; fails naming the file at fault.
tl::expected<SslContextPtr, TlsError> make_server_tls_context(const TlsServerParams& params);

} // namespace pv::net
