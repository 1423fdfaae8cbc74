#pragma once
// Agents for the pool tests: ClientSessions (the project's PersonaPlex client) on one shared io
// thread, each played by a SessionDriver that speaks a question once its handshake is there, so
// that the simulator behind the pool answers with its own --reply-text (which server served it is
// then visible to the client). A PoolTest fixture owns the simulators, the pool and the clients,
// and tears them down in the right order on every path.

#include "pool_harness.hpp"

#include "net/io_thread.hpp"
#include "personaplex/client_session.hpp"
#include "personaplex/options.hpp"
#include "pp_test_util.hpp"

#include <map>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace pv::deploy::test {

// The reply text of the simulator called `name` ("one" -> "This is server one.").
std::string reply_of(const std::string& name);

struct PoolClient {
  std::string key; // X-Session-Key
  std::shared_ptr<personaplex::ClientSession> session;
  std::unique_ptr<personaplex::test::SessionDriver> driver;

  bool served() const { return session->handshake_done(); }
  bool ended() const { return session->ended(); }
  personaplex::SessionState state() const { return session->state(); }
};

class PoolTest : public ::testing::Test {
protected:
  void TearDown() override;

  // Starts `count` simulators named one, two, three, ... (extra flags for all of them).
  void start_sims(int count, const std::vector<std::string>& extra = {});
  // The pool in front of every simulator started so far; waits until all are up.
  void start_pool(PoolOptions options);
  std::vector<std::string> sim_addresses() const;

  // The /api/chat URL through the pool (the client's own request builder).
  std::string pool_url() const;
  // Session parameters for the pool: `key` as X-Session-Key, generous timeouts.
  personaplex::SessionParams client_params(const std::string& key) const;
  // Opens a session (and its driver) with `key`.
  PoolClient& connect(const std::string& key);
  PoolClient& connect(personaplex::SessionParams params, const std::string& key);
  // Waits until the client's transcript names a simulator; its name, "" on timeout.
  std::string served_by(PoolClient& client);
  // Closes the session (Close handshake) and waits for its end; stops its driver.
  void hang_up(PoolClient& client);
  // Duplex backend options for an agent behind the pool (test-sized backoff, generous timeouts).
  personaplex::BackendOptions duplex_options(const std::string& key) const;

  // Waits until the pool reports `sessions` on member `name` (its pp<k>) / `queued` upgrades.
  bool wait_member_sessions(const std::string& name, int sessions);
  bool wait_queued(int queued);
  SimProcess& sim(const std::string& name);
  // Simulators with a session that has its handshake and has not closed (their logs).
  std::vector<std::string> serving() const;
  // No simulator ever queued a session, or held two at once (their own logs).
  void expect_one_session_per_server();

  ScratchDir dir_;
  std::vector<std::unique_ptr<SimProcess>> sims_;
  std::unique_ptr<HaproxyPool> pool_;
  std::unique_ptr<net::IoThread> io_;
  std::vector<std::unique_ptr<PoolClient>> clients_;
  std::string tls_ca_file_; // the agents' CA file when the pool serves wss
};

} // namespace pv::deploy::test
