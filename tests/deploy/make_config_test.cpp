// deploy/haproxy/make-config.sh on its own: every bad setting is refused with exit code 2 and a
// message naming the variable (and nothing on stdout, so `> haproxy.cfg` never gets half a
// config); every accepted combination is a configuration that `haproxy -c` accepts.

#include "pool_harness.hpp"

#include "support/tls_certs.hpp"

#include <fstream>

#include <gtest/gtest.h>

namespace pv::deploy::test {
namespace {

using Env = std::vector<std::pair<std::string, std::string>>;

struct BadCase {
  Env env;
  std::string named; // the message names this
};

TEST(MakeConfig, RefusesBadSettingsNamingTheVariable) {
  ScratchDir dir;
  const std::vector<BadCase> cases = {
      {{}, "PERSONAPLEX_POOL is empty"},
      {{{"PERSONAPLEX_POOL", " , "}}, "PERSONAPLEX_POOL has no servers"},
      {{{"PERSONAPLEX_POOL", "gpu1"}}, "'gpu1' is not host:port"},
      {{{"PERSONAPLEX_POOL", "gpu1:8998,gpu1:8998"}}, "lists 'gpu1:8998' twice"},
      {{{"PERSONAPLEX_POOL", "gpu1:0"}}, "port out of range"},
      {{{"PERSONAPLEX_POOL", "gpu1:70000"}}, "port out of range"},
      {{{"PERSONAPLEX_POOL", "[::1]:8998"}}, "not host:port"},
      {{{"PERSONAPLEX_POOL", "a:1"}, {"PERSONAPLEX_POOL_MODE", "wait"}}, "PERSONAPLEX_POOL_MODE"},
      {{{"PERSONAPLEX_POOL", "a:1"}, {"PERSONAPLEX_POOL_QUEUE_TIMEOUT_S", "0"}},
       "PERSONAPLEX_POOL_QUEUE_TIMEOUT_S"},
      {{{"PERSONAPLEX_POOL", "a:1"}, {"PERSONAPLEX_POOL_QUEUE_TIMEOUT_S", "501"}}, "from 1 to 500"},
      {{{"PERSONAPLEX_POOL", "a:1"}, {"PERSONAPLEX_POOL_CHECK_MS", "2s"}},
       "PERSONAPLEX_POOL_CHECK_MS"},
      {{{"PERSONAPLEX_POOL", "a:1"}, {"PERSONAPLEX_POOL_STICKY_TTL_S", "-5"}},
       "PERSONAPLEX_POOL_STICKY_TTL_S"},
      {{{"PERSONAPLEX_POOL", "a:1"}, {"PERSONAPLEX_POOL_RETRY_AFTER_S", "1.5"}},
       "PERSONAPLEX_POOL_RETRY_AFTER_S"},
      {{{"PERSONAPLEX_POOL", "a:1"}, {"PERSONAPLEX_POOL_BIND", "9000"}}, "PERSONAPLEX_POOL_BIND"},
      {{{"PERSONAPLEX_POOL", "a:1"}, {"PERSONAPLEX_BACKEND_TLS", "yes"}},
       "PERSONAPLEX_BACKEND_TLS"},
      {{{"PERSONAPLEX_POOL", "a:1"}, {"PERSONAPLEX_BACKEND_TLS", "verify"}},
       "needs PERSONAPLEX_BACKEND_CA_FILE"},
      {{{"PERSONAPLEX_POOL", "a:1"},
        {"PERSONAPLEX_BACKEND_TLS", "verify"},
        {"PERSONAPLEX_BACKEND_CA_FILE", "/nonexistent/ca.pem"}},
       "PERSONAPLEX_BACKEND_CA_FILE"},
      {{{"PERSONAPLEX_POOL", "a:1"}, {"PERSONAPLEX_POOL_TLS_CERT", "/nonexistent/c.pem"}},
       "PERSONAPLEX_POOL_TLS_CERT"},
  };
  for (const auto& c : cases) {
    const auto result = run_make_config(dir.path, c.env);
    EXPECT_EQ(result.exit_code, 2) << c.named;
    EXPECT_NE(result.err.find(c.named), std::string::npos) << "stderr: " << result.err;
    EXPECT_TRUE(result.out.empty()) << c.named << ": " << result.out;
  }
}

std::string check_with_haproxy(const std::filesystem::path& dir, const std::string& config) {
  const auto file = dir / "check.cfg";
  std::ofstream(file) << config;
  ChildSpec spec;
  spec.argv = {find_program("haproxy"), "-c", "-f", file.string()};
  spec.stdout_file = dir / "check.out";
  spec.stderr_file = dir / "check.err";
  ChildProcess process(spec);
  const auto code = process.wait_exit(kWait);
  if (code == 0) {
    return {};
  }
  return "haproxy -c exit " + std::to_string(code.value_or(-1)) + ": " +
         read_file(dir / "check.out") + read_file(dir / "check.err");
}

TEST(MakeConfig, EveryModeAndTlsVariantPassesHaproxysCheck) {
  ASSERT_FALSE(find_program("haproxy").empty()) << "install the Debian package 'haproxy'";
  ScratchDir dir;
  pv::test::TlsTestCerts certs;
  const auto front_pem = dir.path / "front.pem";
  std::ofstream(front_pem) << certs.server_cert_pem << certs.server_key_pem;
  const std::string pool = "127.0.0.1:8998, ws://localhost:8999/ ,https://127.0.0.1:9001";
  const std::vector<Env> variants = {
      {{"PERSONAPLEX_POOL", pool}},
      {{"PERSONAPLEX_POOL", pool}, {"PERSONAPLEX_POOL_MODE", "refuse"}},
      {{"PERSONAPLEX_POOL", pool},
       {"PERSONAPLEX_BACKEND_TLS", "verify"},
       {"PERSONAPLEX_BACKEND_CA_FILE", certs.ca_cert.string()},
       {"PERSONAPLEX_POOL_TLS_CERT", front_pem.string()}},
      {{"PERSONAPLEX_POOL", pool},
       {"PERSONAPLEX_POOL_MODE", "refuse"},
       {"PERSONAPLEX_BACKEND_TLS", "insecure"},
       {"PERSONAPLEX_POOL_BIND", "127.0.0.1:19000"},
       {"PERSONAPLEX_POOL_QUEUE_TIMEOUT_S", "500"},
       {"PERSONAPLEX_POOL_CHECK_MS", "0250"}},
  };
  for (const auto& env : variants) {
    const auto result = run_make_config(dir.path, env);
    ASSERT_EQ(result.exit_code, 0) << result.err;
    EXPECT_EQ(check_with_haproxy(dir.path, result.out), "") << result.out;
    // One session per server, three servers in both backends, the scheme and path stripped.
    EXPECT_NE(result.out.find("default-server maxconn 1 "), std::string::npos);
    EXPECT_NE(result.out.find("server pp2 localhost:8999 id 2"), std::string::npos);
    EXPECT_NE(result.out.find("server pp3 127.0.0.1:9001 id 3"), std::string::npos);
  }
  // Details of the variants: 429 only in refuse mode; the name checked only for a host name.
  const auto queue = run_make_config(dir.path, variants[0]);
  EXPECT_EQ(queue.out.find("status 429"), std::string::npos);
  const auto refuse = run_make_config(dir.path, variants[1]);
  EXPECT_NE(refuse.out.find("status 429"), std::string::npos);
  const auto verify = run_make_config(dir.path, variants[2]);
  EXPECT_NE(verify.out.find("localhost:8999 id 2 ssl verify required ca-file " +
                            certs.ca_cert.string() + " verifyhost localhost"),
            std::string::npos)
      << verify.out;
  EXPECT_NE(verify.out.find("127.0.0.1:8998 id 1 ssl verify required ca-file " +
                            certs.ca_cert.string() + "\n"),
            std::string::npos);
  const auto tuned = run_make_config(dir.path, variants[3]);
  EXPECT_NE(tuned.out.find("check inter 250 "), std::string::npos);
  EXPECT_NE(tuned.out.find("ssl verify none"), std::string::npos);
}

} // namespace
} // namespace pv::deploy::test
