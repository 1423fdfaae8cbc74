#include "net/tls.hpp"

#include "net/detail/tls_detail.hpp"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>

#include <boost/asio/ip/address.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/error.hpp>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

namespace pv::net {

namespace ssl = boost::asio::ssl;

namespace {

// The most recent OpenSSL error reason, clearing the queue.
std::string openssl_reason() {
  unsigned long code = 0;
  unsigned long last = 0;
  while ((code = ERR_get_error()) != 0) {
    last = code;
  }
  if (last == 0) {
    return "unknown OpenSSL error";
  }
  const char* reason = ERR_reason_error_string(last);
  return reason != nullptr ? reason : "OpenSSL error " + std::to_string(last);
}

tl::expected<std::string, std::string> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return tl::unexpected(std::string(std::strerror(errno)));
  }
  std::ostringstream content;
  content << in.rdbuf();
  return content.str();
}

void set_min_tls12(SSL_CTX* ctx) {
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
}

} // namespace

const char* to_string(TlsErrorKind kind) {
  switch (kind) {
  case TlsErrorKind::ca_file:
    return "ca_file";
  case TlsErrorKind::cert_file:
    return "cert_file";
  case TlsErrorKind::key_file:
    return "key_file";
  case TlsErrorKind::system_cas:
    return "system_cas";
  }
  return "unknown";
}

namespace {

tl::expected<SslContextPtr, TlsError> build_client_context(const TlsClientParams& params) {
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_client);
  set_min_tls12(ctx->native_handle());
  if (!params.verify) {
    ctx->set_verify_mode(ssl::verify_none);
    return ctx;
  }
  boost::system::error_code ec;
  ctx->set_default_verify_paths(ec);
  if (ec) {
    return tl::unexpected(
        TlsError{TlsErrorKind::system_cas, "cannot load the system CA store: " + ec.message()});
  }
  if (!params.ca_file.empty()) {
    auto certs = detail::load_pem_certificates(params.ca_file);
    if (!certs) {
      return tl::unexpected(certs.error());
    }
    detail::add_trusted_certificates(ctx->native_handle(), *certs);
  }
  ctx->set_verify_mode(ssl::verify_peer);
  return ctx;
}

} // namespace

tl::expected<SslContextPtr, TlsError> make_client_tls_context(const TlsClientParams& params) {
  // Loading the system bundle costs ~16 ms (OpenSSL parses every root), so contexts are built
  // once per (verify, ca_file) and shared; they are immutable and thread-safe to share.
  static std::mutex mutex;
  static std::map<std::pair<bool, std::string>, SslContextPtr> cache;
  const auto key = std::make_pair(params.verify, params.verify ? params.ca_file : std::string());
  std::lock_guard lock(mutex);
  if (auto it = cache.find(key); it != cache.end()) {
    return it->second;
  }
  auto ctx = build_client_context(params);
  if (ctx) {
    cache.emplace(key, *ctx);
  }
  return ctx;
}

tl::expected<SslContextPtr, TlsError> make_server_tls_context(const TlsServerParams& params) {
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_server);
  set_min_tls12(ctx->native_handle());
  ERR_clear_error();
  if (SSL_CTX_use_certificate_chain_file(ctx->native_handle(), params.cert_file.c_str()) != 1) {
    return tl::unexpected(
        TlsError{TlsErrorKind::cert_file,
                 "cannot use certificate file '" + params.cert_file + "': " + openssl_reason()});
  }
  if (SSL_CTX_use_PrivateKey_file(ctx->native_handle(), params.key_file.c_str(),
                                  SSL_FILETYPE_PEM) != 1) {
    return tl::unexpected(
        TlsError{TlsErrorKind::key_file,
                 "cannot use private key file '" + params.key_file + "': " + openssl_reason()});
  }
  if (SSL_CTX_check_private_key(ctx->native_handle()) != 1) {
    return tl::unexpected(TlsError{TlsErrorKind::key_file, "private key file '" + params.key_file +
                                                               "' does not match certificate '" +
                                                               params.cert_file + "'"});
  }
  return ctx;
}

namespace detail {

tl::expected<std::vector<X509Ptr>, TlsError> load_pem_certificates(const std::string& path) {
  auto content = read_file(path);
  if (!content) {
    return tl::unexpected(
        TlsError{TlsErrorKind::ca_file, "cannot read CA file '" + path + "': " + content.error()});
  }
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(
      BIO_new_mem_buf(content->data(), static_cast<int>(content->size())), &BIO_free);
  std::vector<X509Ptr> certs;
  ERR_clear_error();
  while (X509* cert = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) {
    certs.emplace_back(cert);
  }
  // The loop ends with a "no start line" error at end of input; anything else is corruption.
  const unsigned long last = ERR_peek_last_error();
  const bool clean_end = last == 0 || (ERR_GET_LIB(last) == ERR_LIB_PEM &&
                                       ERR_GET_REASON(last) == PEM_R_NO_START_LINE);
  if (!clean_end) {
    return tl::unexpected(TlsError{TlsErrorKind::ca_file,
                                   "CA file '" + path + "' is not valid PEM: " + openssl_reason()});
  }
  ERR_clear_error();
  if (certs.empty()) {
    return tl::unexpected(
        TlsError{TlsErrorKind::ca_file, "CA file '" + path + "' contains no PEM certificate"});
  }
  return certs;
}

void add_trusted_certificates(SSL_CTX* ctx, const std::vector<X509Ptr>& certs) {
  X509_STORE* store = SSL_CTX_get_cert_store(ctx);
  for (const auto& cert : certs) {
    X509_STORE_add_cert(store, cert.get()); // fails only for duplicates, which is fine
  }
  ERR_clear_error();
}

bool configure_client_connection(SSL* ssl, const TlsClientParams& params, std::string_view host,
                                 std::string& error) {
  const std::string name(params.server_name.empty() ? host : params.server_name);
  boost::system::error_code ec;
  boost::asio::ip::make_address(name, ec);
  const bool is_ip_literal = !ec;
  // SNI carries DNS names only (RFC 6066 §3).
  if (!is_ip_literal && SSL_set_tlsext_host_name(ssl, name.c_str()) != 1) {
    error = "cannot set SNI '" + name + "': " + openssl_reason();
    return false;
  }
  if (!params.verify) {
    return true;
  }
  X509_VERIFY_PARAM* verify_param = SSL_get0_param(ssl);
  X509_VERIFY_PARAM_set_hostflags(verify_param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
  const int ok = is_ip_literal ? X509_VERIFY_PARAM_set1_ip_asc(verify_param, name.c_str())
                               : X509_VERIFY_PARAM_set1_host(verify_param, name.c_str(), 0);
  if (ok != 1) {
    error = "cannot set the expected peer name '" + name + "': " + openssl_reason();
    return false;
  }
  return true;
}

std::string describe_tls_failure(const boost::system::error_code& ec, const SSL* ssl) {
  std::string text;
  if (ec.category() == boost::asio::error::get_ssl_category()) {
    const char* reason = ERR_reason_error_string(static_cast<unsigned long>(ec.value()));
    text = reason != nullptr ? reason : ec.message();
  } else {
    text = ec.message();
  }
  // With verification off OpenSSL still records a verify result; it is not the cause then.
  if (ssl != nullptr && SSL_get_verify_mode(ssl) != SSL_VERIFY_NONE) {
    const long verify_result = SSL_get_verify_result(ssl);
    if (verify_result != X509_V_OK) {
      text += ": ";
      text += X509_verify_cert_error_string(verify_result);
    }
  }
  return text;
}

} // namespace detail
} // namespace pv::net
