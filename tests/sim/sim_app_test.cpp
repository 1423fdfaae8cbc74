// The real personaplex-sim binary: it prints its ephemeral port, serves a handshake, and exits 0
// on SIGTERM.

#include "sim_test_util.hpp"
#include "support/child_process.hpp"

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace pv::sim {
namespace {

using namespace std::chrono_literals;
using pv::test::ChildProcess;
using pv::test::ChildSpec;
using pv::test::read_listening_port;

// personaplex-sim with `args`.
ChildSpec sim_spec(const std::vector<std::string>& args) {
  ChildSpec spec;
  spec.argv = {std::string(PV_BINARY_DIR) + "/apps/personaplex-sim"};
  spec.argv.insert(spec.argv.end(), args.begin(), args.end());
  return spec;
}

TEST(SimApp, PrintsItsPortServesAHandshakeAndExitsCleanlyOnSigterm) {
  ChildProcess process(sim_spec(
      {"--port", "0", "--prompt-step-ms", "1", "--voice-frames", "2", "--log-level", "warn"}));
  const auto listening = read_listening_port(process, 30s);
  ASSERT_NE(listening.port, 0) << "stdout: '" << listening.line << "'";

  test::RawWsOptions options;
  options.port = listening.port;
  test::RawWsClient client(options);
  const auto upgrade = client.connect();
  ASSERT_TRUE(upgrade.ok) << upgrade.http_status << " " << upgrade.error;
  ASSERT_TRUE(client.wait_messages(3));
  EXPECT_EQ(client.messages()[0].bytes, std::vector<uint8_t>{0x00});
  EXPECT_EQ(client.messages()[1].bytes.size(), 48u);
  EXPECT_EQ(client.messages()[2].bytes.size(), 54u);

  EXPECT_EQ(process.terminate(20s), std::optional<int>(0));
  ASSERT_TRUE(client.wait_end());
}

TEST(SimApp, FaultFlagsApplyToTheChosenSession) {
  ChildProcess process(
      sim_spec({"--port", "0", "--prompt-step-ms", "1", "--voice-frames", "2", "--reject-status",
                "429", "--retry-after", "3", "--fault-session", "2", "--log-level", "warn"}));
  const auto listening = read_listening_port(process, 30s);
  ASSERT_NE(listening.port, 0) << "stdout: '" << listening.line << "'";
  test::RawWsOptions options;
  options.port = listening.port;
  {
    test::RawWsClient first(options);
    ASSERT_TRUE(first.connect().ok);
    ASSERT_TRUE(first.wait_messages(3));
    first.close();
    ASSERT_TRUE(first.wait_end());
  }
  test::RawWsClient second(options);
  const auto upgrade = second.connect();
  EXPECT_FALSE(upgrade.ok);
  EXPECT_EQ(upgrade.http_status, 429);
  EXPECT_EQ(upgrade.retry_after, "3");
  test::RawWsClient third(options);
  EXPECT_TRUE(third.connect().ok);
  EXPECT_TRUE(third.wait_messages(3));
  EXPECT_EQ(process.terminate(20s), std::optional<int>(0));
}

TEST(SimApp, RejectsBadOptions) {
  ChildProcess process(sim_spec({"--max-sessions", "0"}));
  EXPECT_EQ(process.read_line(20s), ""); // nothing on stdout: it exits with an error
  const auto exit_code = process.wait_exit(20s);
  ASSERT_TRUE(exit_code.has_value());
  EXPECT_NE(*exit_code, 0);
}

} // namespace
} // namespace pv::sim
