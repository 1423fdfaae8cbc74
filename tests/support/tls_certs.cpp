#include "support/tls_certs.hpp"

#include <cstdlib>
#include <fstream>
#include <memory>
#include <stdexcept>
#include <string>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

namespace pv::test {

namespace {

struct KeyDeleter {
  void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
};
struct CertDeleter {
  void operator()(X509* cert) const { X509_free(cert); }
};
struct BioDeleter {
  void operator()(BIO* bio) const { BIO_free(bio); }
};
using KeyPtr = std::unique_ptr<EVP_PKEY, KeyDeleter>;
using CertPtr = std::unique_ptr<X509, CertDeleter>;
using BioPtr = std::unique_ptr<BIO, BioDeleter>;

[[noreturn]] void fail(const std::string& what) {
  const unsigned long code = ERR_get_error();
  char reason[256] = "no OpenSSL error";
  if (code != 0) {
    ERR_error_string_n(code, reason, sizeof(reason));
  }
  throw std::runtime_error("TlsTestCerts: " + what + ": " + reason);
}

KeyPtr make_key() {
  KeyPtr key(EVP_EC_gen("P-256"));
  if (!key) {
    fail("EC key generation");
  }
  return key;
}

void add_extension(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
  if (ext == nullptr) {
    fail("extension " + std::string(OBJ_nid2sn(nid)) + "=" + value);
  }
  X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
}

CertPtr make_cert(EVP_PKEY* key, const std::string& common_name, X509* issuer_cert,
                  int valid_days) {
  CertPtr cert(X509_new());
  if (!cert) {
    fail("X509_new");
  }
  X509_set_version(cert.get(), 2);
  unsigned char serial_bytes[16];
  RAND_bytes(serial_bytes, sizeof(serial_bytes));
  serial_bytes[0] &= 0x7f; // positive
  BIGNUM* serial = BN_bin2bn(serial_bytes, sizeof(serial_bytes), nullptr);
  BN_to_ASN1_INTEGER(serial, X509_get_serialNumber(cert.get()));
  BN_free(serial);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), static_cast<long>(valid_days) * 24 * 3600);
  X509_set_pubkey(cert.get(), key);
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("podium-voices tests"), -1, -1,
                             0);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(common_name.c_str()), -1, -1,
                             0);
  X509* issuer = issuer_cert != nullptr ? issuer_cert : cert.get();
  X509_set_issuer_name(cert.get(), X509_get_subject_name(issuer));
  return cert;
}

void sign(X509* cert, EVP_PKEY* key) {
  if (X509_sign(cert, key, EVP_sha256()) == 0) {
    fail("X509_sign");
  }
}

std::string cert_pem(X509* cert) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_X509(bio.get(), cert);
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(size));
}

std::string key_pem(EVP_PKEY* key) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr);
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(size));
}

void write_file(const std::filesystem::path& path, const std::string& content) {
  std::ofstream out(path, std::ios::binary);
  out << content;
  if (!out) {
    throw std::runtime_error("TlsTestCerts: cannot write " + path.string());
  }
}

struct Ca {
  KeyPtr key;
  CertPtr cert;
};

Ca make_ca(const std::string& name, int valid_days) {
  Ca ca;
  ca.key = make_key();
  ca.cert = make_cert(ca.key.get(), name, nullptr, valid_days);
  add_extension(ca.cert.get(), ca.cert.get(), NID_basic_constraints, "critical,CA:TRUE");
  add_extension(ca.cert.get(), ca.cert.get(), NID_key_usage, "critical,keyCertSign,cRLSign");
  add_extension(ca.cert.get(), ca.cert.get(), NID_subject_key_identifier, "hash");
  sign(ca.cert.get(), ca.key.get());
  return ca;
}

} // namespace

TlsTestCerts::TlsTestCerts(const TlsTestCertParams& params) {
  std::string pattern = (std::filesystem::temp_directory_path() / "pv-tls-XXXXXX").string();
  if (mkdtemp(pattern.data()) == nullptr) {
    throw std::runtime_error("TlsTestCerts: mkdtemp failed");
  }
  dir = pattern;
  try {
    generate(params);
  } catch (...) {
    std::error_code ignored;
    std::filesystem::remove_all(dir, ignored);
    throw;
  }
}

void TlsTestCerts::generate(const TlsTestCertParams& params) {
  const Ca ca = make_ca("podium-voices test CA", params.valid_days);
  const Ca other = make_ca("unrelated test CA", params.valid_days);

  KeyPtr leaf_key = make_key();
  const std::string common_name =
      params.dns_names.empty() ? params.ip_addresses.front() : params.dns_names.front();
  CertPtr leaf = make_cert(leaf_key.get(), common_name, ca.cert.get(), params.valid_days);
  std::string san;
  for (const auto& dns : params.dns_names) {
    san += (san.empty() ? "DNS:" : ",DNS:") + dns;
  }
  for (const auto& ip : params.ip_addresses) {
    san += (san.empty() ? "IP:" : ",IP:") + ip;
  }
  add_extension(leaf.get(), ca.cert.get(), NID_basic_constraints, "critical,CA:FALSE");
  add_extension(leaf.get(), ca.cert.get(), NID_key_usage, "critical,digitalSignature");
  add_extension(leaf.get(), ca.cert.get(), NID_ext_key_usage, "serverAuth");
  add_extension(leaf.get(), ca.cert.get(), NID_subject_key_identifier, "hash");
  add_extension(leaf.get(), ca.cert.get(), NID_authority_key_identifier, "keyid:always");
  if (!san.empty()) {
    add_extension(leaf.get(), ca.cert.get(), NID_subject_alt_name, san);
  }
  sign(leaf.get(), ca.key.get());

  ca_pem = cert_pem(ca.cert.get());
  other_ca_pem = cert_pem(other.cert.get());
  server_cert_pem = cert_pem(leaf.get());
  server_key_pem = key_pem(leaf_key.get());

  ca_cert = dir / "ca.pem";
  other_ca_cert = dir / "other-ca.pem";
  server_cert = dir / "server.pem";
  server_key = dir / "server-key.pem";
  write_file(ca_cert, ca_pem);
  write_file(other_ca_cert, other_ca_pem);
  write_file(server_cert, server_cert_pem);
  write_file(server_key, server_key_pem);
}

TlsTestCerts::~TlsTestCerts() {
  std::error_code ignored;
  std::filesystem::remove_all(dir, ignored);
}

const TlsTestCerts& shared_tls_certs() {
  static const TlsTestCerts certs;
  return certs;
}

} // namespace pv::test
