// The PersonaPlex pool (deploy/haproxy/make-config.sh) run for real: three personaplex-sim
// processes, each answering with its own sentence, behind a real haproxy, and agents using the
// project's PersonaPlex client. Which server served an agent is read from what the agent heard,
// and checked against the simulators' own logs (never two sessions on one server, never a session
// queued inside a server) and the pool's /pool/status.

#include "pool_test_util.hpp"

#include "personaplex/duplex_backend.hpp"
#include "support/tls_certs.hpp"

#include <algorithm>
#include <fstream>
#include <set>

#include <gtest/gtest.h>

namespace pv::deploy::test {
namespace {

using conversation::ErrorKind;
using personaplex::SessionState;
using personaplex::test::wait_for;

int count_served(const std::vector<PoolClient*>& clients) {
  return static_cast<int>(
      std::count_if(clients.begin(), clients.end(), [](auto* c) { return c->served(); }));
}

TEST(PoolPrerequisites, HaproxyIsInstalled) {
  EXPECT_FALSE(find_program("haproxy").empty())
      << "haproxy not found (PATH, /usr/sbin): install the Debian package 'haproxy' "
         "(scripts/install-deps.sh lists it); every pool test needs it";
}

TEST_F(PoolTest, QueueModeServesThreeAndQueuesTwoUntilAServerFreesUp) {
  start_sims(3);
  ASSERT_NO_FATAL_FAILURE(start_pool(PoolOptions{}));

  std::vector<PoolClient*> clients;
  for (int i = 1; i <= 5; ++i) {
    clients.push_back(&connect("room:agent-" + std::to_string(i)));
  }
  ASSERT_TRUE(wait_for([&] { return count_served(clients) == 3; }, kWait));
  ASSERT_TRUE(wait_queued(2)) << pool_->status().value_or(nlohmann::json()).dump();
  std::vector<PoolClient*> served;
  std::vector<PoolClient*> waiting;
  for (auto* c : clients) {
    (c->served() ? served : waiting).push_back(c);
  }
  ASSERT_EQ(served.size(), 3u);
  ASSERT_EQ(waiting.size(), 2u);

  // Three different servers; each heard exactly one upgrade and queued nothing.
  std::map<PoolClient*, std::string> server_of;
  std::set<std::string> names;
  for (auto* c : served) {
    server_of[c] = served_by(*c);
    names.insert(server_of[c]);
  }
  EXPECT_EQ(names, (std::set<std::string>{"one", "two", "three"}));
  for (const auto& s : sims_) {
    EXPECT_EQ(s->count("SIM_CONNECT"), 1) << s->name();
  }
  // The two others got nothing at all: no 101 (they wait in the pool, not inside a server).
  for (auto* c : waiting) {
    EXPECT_EQ(c->state(), SessionState::connecting) << c->key;
    EXPECT_FALSE(c->served()) << c->key;
  }

  // Not a session: the web UI still answers while every server is busy (no 429, no queue).
  EXPECT_EQ(pool_->get("/other").first, 200);
  EXPECT_EQ(pool_->get("/api/chat").first, 400); // no upgrade: the server's own answer

  // A served agent leaves: the first waiting agent gets that very server.
  hang_up(*served[0]);
  ASSERT_TRUE(wait_for([&] { return count_served(waiting) == 1; }, kWait));
  auto* next = waiting[0]->served() ? waiting[0] : waiting[1];
  auto* last = next == waiting[0] ? waiting[1] : waiting[0];
  EXPECT_EQ(served_by(*next), server_of[served[0]]);
  EXPECT_EQ(last->state(), SessionState::connecting);
  ASSERT_TRUE(wait_queued(1));

  hang_up(*served[1]);
  ASSERT_TRUE(wait_for([&] { return last->served(); }, kWait));
  EXPECT_EQ(served_by(*last), server_of[served[1]]);

  EXPECT_EQ(sim(server_of[served[0]]).count("SIM_CONNECT"), 2);
  EXPECT_EQ(sim(server_of[served[1]]).count("SIM_CONNECT"), 2);
  EXPECT_EQ(sim(server_of[served[2]]).count("SIM_CONNECT"), 1);
  for (auto* c : clients) {
    EXPECT_FALSE(c->session->error().has_value()) << c->key << ": " << c->session->error()->message;
  }
  expect_one_session_per_server();
}

TEST_F(PoolTest, RefuseModeAnswersTheExtraAgentsWith429AndRetryAfter) {
  start_sims(3);
  PoolOptions options;
  options.mode = "refuse";
  options.retry_after_s = 7;
  ASSERT_NO_FATAL_FAILURE(start_pool(options));

  std::vector<PoolClient*> clients;
  for (int i = 1; i <= 5; ++i) {
    clients.push_back(&connect("room:agent-" + std::to_string(i)));
  }
  ASSERT_TRUE(wait_for(
      [&] {
        return std::all_of(clients.begin(), clients.end(),
                           [](auto* c) { return c->served() || c->ended(); });
      },
      kWait));
  std::vector<PoolClient*> served;
  std::vector<PoolClient*> refused;
  for (auto* c : clients) {
    (c->served() ? served : refused).push_back(c);
  }
  ASSERT_EQ(served.size(), 3u);
  ASSERT_EQ(refused.size(), 2u);
  for (auto* c : refused) {
    ASSERT_EQ(c->state(), SessionState::failed) << c->key;
    const auto error = c->session->error();
    ASSERT_TRUE(error.has_value());
    EXPECT_EQ(error->kind, ErrorKind::http_rejected) << error->message;
    EXPECT_NE(error->message.find("429"), std::string::npos) << error->message;
    EXPECT_TRUE(error->retryable);
    EXPECT_EQ(c->session->retry_after(), "7");
  }
  std::set<std::string> names;
  std::map<PoolClient*, std::string> server_of;
  for (auto* c : served) {
    server_of[c] = served_by(*c);
    names.insert(server_of[c]);
  }
  EXPECT_EQ(names, (std::set<std::string>{"one", "two", "three"}));
  for (const auto& s : sims_) {
    EXPECT_EQ(s->count("SIM_CONNECT"), 1) << s->name() << ": a refused agent reached a server";
  }

  // Only session upgrades are refused: another path is the server's web UI, never a 429.
  const auto other = pool_->get("/other");
  EXPECT_EQ(other.first, 200) << other.second;
  EXPECT_EQ(pool_->get("/").first, 200);

  // Room again: a newcomer is accepted, on the server that was freed.
  hang_up(*served[0]);
  ASSERT_TRUE(wait_member_sessions(server_of[served[0]], 0));
  auto& newcomer = connect("room:agent-6");
  ASSERT_TRUE(wait_for([&] { return newcomer.served() || newcomer.ended(); }, kWait));
  ASSERT_TRUE(newcomer.served()) << newcomer.session->error()->message;
  EXPECT_EQ(served_by(newcomer), server_of[served[0]]);
  expect_one_session_per_server();
}

TEST_F(PoolTest, AnAgentGoesBackToItsServerButNeverWaitsForIt) {
  start_sims(3);
  ASSERT_NO_FATAL_FAILURE(start_pool(PoolOptions{}));

  auto* a = &connect("room:agent-a");
  ASSERT_TRUE(wait_for([&] { return a->served(); }, kWait));
  const std::string first = served_by(*a);
  ASSERT_FALSE(first.empty());
  auto& b = connect("room:agent-b");
  auto& d = connect("room:agent-d");
  ASSERT_TRUE(wait_for([&] { return b.served() && d.served(); }, kWait));
  const std::string of_b = served_by(b);
  const std::string of_d = served_by(d);
  EXPECT_EQ((std::set<std::string>{first, of_b, of_d}).size(), 3u);

  // A leaves; a newcomer takes A's server (the only idle one).
  hang_up(*a);
  ASSERT_TRUE(wait_member_sessions(first, 0));
  auto& c = connect("room:agent-c");
  ASSERT_TRUE(wait_for([&] { return c.served(); }, kWait));
  EXPECT_EQ(served_by(c), first);

  // B leaves; A comes back while its server is busy: served at once by the idle one.
  hang_up(b);
  ASSERT_TRUE(wait_member_sessions(of_b, 0));
  a = &connect("room:agent-a");
  ASSERT_TRUE(wait_for([&] { return a->served() || a->ended(); }, kWait));
  ASSERT_TRUE(a->served());
  EXPECT_EQ(served_by(*a), of_b);

  // Now A's server is of_b. With two idle servers (C leaves too), A returns to of_b every time,
  // although least-connections alone would pick the server that has been idle longer.
  hang_up(c);
  ASSERT_TRUE(wait_member_sessions(first, 0));
  for (int round = 0; round < 3; ++round) {
    hang_up(*a);
    ASSERT_TRUE(wait_member_sessions(of_b, 0));
    a = &connect("room:agent-a");
    ASSERT_TRUE(wait_for([&] { return a->served(); }, kWait));
    EXPECT_EQ(served_by(*a), of_b) << "round " << round;
  }
  // A key never seen gets any idle server, here the only one.
  auto& e = connect("room:agent-e");
  ASSERT_TRUE(wait_for([&] { return e.served(); }, kWait));
  EXPECT_EQ(served_by(e), first);
  expect_one_session_per_server();
}

TEST_F(PoolTest, AKilledServerIsTakenOutAndItsAgentReconnectsToAnother) {
  start_sims(3);
  ASSERT_NO_FATAL_FAILURE(start_pool(PoolOptions{}));

  // The agent: the duplex backend (reconnects with backoff), driven by a silent room.
  personaplex::test::RecordingObserver observer;
  personaplex::test::RoomDriver room;
  personaplex::DuplexBackend backend(duplex_options("room:agent-f"));
  ASSERT_TRUE(backend.start(room.context(observer)));
  room.start(backend);
  ASSERT_TRUE(wait_for([&] { return serving().size() == 1; }, kWait));
  const std::string victim = serving()[0];

  // Another agent takes a second server, so exactly one stays idle.
  auto& other = connect("room:agent-g");
  ASSERT_TRUE(wait_for([&] { return other.served(); }, kWait));
  const std::string of_other = served_by(other);
  ASSERT_NE(of_other, victim);

  sim(victim).process().kill_now();
  ASSERT_TRUE(wait_for([&] { return observer.health().size() >= 2; }, kWait))
      << testing::PrintToString(observer.events());
  // The pool's health check took it out.
  ASSERT_TRUE(pool_->wait_up(2)) << pool_->status().value_or(nlohmann::json()).dump();
  const auto status = *pool_->status();
  for (const auto& m : status["members"]) {
    const bool is_victim = m["address"] == sim(victim).address();
    EXPECT_EQ(m["up"].get<int>(), is_victim ? 0 : 1) << m.dump();
  }
  room.stop();
  backend.stop();

  const auto errors = observer.errors();
  ASSERT_FALSE(errors.empty());
  EXPECT_EQ(errors[0].kind, ErrorKind::server_closed) << errors[0].message;
  EXPECT_EQ(observer.health(), (std::vector<bool>{false, true}));
  // The reconnect went to the idle server: neither the dead one nor the other agent's.
  std::string third;
  for (const auto& s : sims_) {
    if (s->name() != victim && s->name() != of_other) {
      third = s->name();
    }
  }
  EXPECT_EQ(sim(third).count("SIM_HANDSHAKE"), 1);
  EXPECT_EQ(sim(of_other).count("SIM_CONNECT"), 1);
  EXPECT_GE(backend.stats().reconnects, 1);
  EXPECT_TRUE(backend.stats().healthy);
  hang_up(other);
  expect_one_session_per_server();
}

// The client's connect timeout covers the upgrade, so behind a queue it must exceed the pool's
// queue timeout (docs/personaplex.md); a shorter one makes the agent give up while queued.
TEST_F(PoolTest, AnAgentThatGivesUpWhileQueuedDoesNotHoldUpTheNext) {
  start_sims(1);
  ASSERT_NO_FATAL_FAILURE(start_pool(PoolOptions{}));
  auto& holder = connect("room:agent-1");
  ASSERT_TRUE(wait_for([&] { return holder.served(); }, kWait));

  auto params = client_params("room:agent-2");
  params.connect_timeout_ms = 300;
  auto& quitter = connect(params, "room:agent-2");
  ASSERT_TRUE(wait_for([&] { return quitter.ended(); }, kWait));
  ASSERT_TRUE(quitter.session->error().has_value());
  EXPECT_EQ(quitter.session->error()->kind, ErrorKind::connect_refused)
      << quitter.session->error()->message;
  EXPECT_NE(quitter.session->error()->message.find("upgrade"), std::string::npos)
      << quitter.session->error()->message;

  // HAProxy 2.6 may keep the quitter's place until it writes to it (option abortonclose notwith-
  // standing); then the server sees an upgrade that closes at once.
  const int before = pool_->status().value_or(nlohmann::json()).value("queued", -1);
  ASSERT_GE(before, 0);
  auto& next = connect("room:agent-3");
  ASSERT_TRUE(wait_queued(before + 1));
  hang_up(holder);
  ASSERT_TRUE(wait_for([&] { return next.served(); }, kWait));
  EXPECT_EQ(served_by(next), "one");
  EXPECT_FALSE(next.session->error().has_value());
  expect_one_session_per_server();
}

TEST_F(PoolTest, AQueuedAgentGets503WhenTheQueueTimeoutExpires) {
  start_sims(1);
  PoolOptions options;
  options.queue_timeout_s = 1;
  ASSERT_NO_FATAL_FAILURE(start_pool(options));
  auto& holder = connect("room:agent-1");
  ASSERT_TRUE(wait_for([&] { return holder.served(); }, kWait));
  auto& waiting = connect("room:agent-2");
  ASSERT_TRUE(wait_for([&] { return waiting.ended(); }, kWait));
  const auto error = waiting.session->error();
  ASSERT_TRUE(error.has_value());
  EXPECT_EQ(error->kind, ErrorKind::http_rejected) << error->message;
  EXPECT_NE(error->message.find("503"), std::string::npos) << error->message;
  EXPECT_TRUE(error->retryable);
  EXPECT_EQ(sims_[0]->count("SIM_CONNECT"), 1);
  EXPECT_TRUE(holder.served() && !holder.ended());
}

TEST_F(PoolTest, TlsBothWaysWithTheServersCheckedAgainstTheirCa) {
  pv::test::TlsTestCerts certs;
  start_sims(2, {"--cert", certs.server_cert.string(), "--key", certs.server_key.string()});
  const auto front_pem = dir_.path / "front.pem";
  std::ofstream(front_pem) << certs.server_cert_pem << certs.server_key_pem;
  PoolOptions options;
  options.backend_tls = "verify";
  options.backend_ca_file = certs.ca_cert.string();
  options.front_cert_pem = front_pem.string();
  options.front_ca_file = certs.ca_cert.string();
  ASSERT_NO_FATAL_FAILURE(start_pool(options));
  EXPECT_EQ(pool_->origin().rfind("wss://", 0), 0u);
  tls_ca_file_ = certs.ca_cert.string();

  auto& a = connect("room:agent-1");
  auto& b = connect("room:agent-2");
  ASSERT_TRUE(wait_for([&] { return (a.served() || a.ended()) && (b.served() || b.ended()); }))
      << pool_->log();
  ASSERT_TRUE(a.served() && b.served());
  EXPECT_EQ((std::set<std::string>{served_by(a), served_by(b)}),
            (std::set<std::string>{"one", "two"}));
  expect_one_session_per_server();
}

TEST_F(PoolTest, ServersWhoseCertificateTheCaDidNotSignAreTakenOut) {
  pv::test::TlsTestCerts certs;
  start_sims(2, {"--cert", certs.server_cert.string(), "--key", certs.server_key.string()});
  PoolOptions options;
  options.backend_tls = "verify";
  options.backend_ca_file = certs.other_ca_cert.string();
  pool_ = std::make_unique<HaproxyPool>(dir_.path, sim_addresses(), options);
  // HAProxy starts with its servers up; the failing TLS checks take them out.
  ASSERT_TRUE(pool_->wait_up(0)) << pool_->log();
  EXPECT_EQ(pool_->get("/pool/status").first, 503);
  auto& a = connect("room:agent-1");
  ASSERT_TRUE(wait_for([&] { return a.ended(); }, kWait));
  const auto error = a.session->error();
  ASSERT_TRUE(error.has_value());
  EXPECT_EQ(error->kind, ErrorKind::http_rejected) << error->message;
  EXPECT_NE(error->message.find("503"), std::string::npos) << error->message;
  EXPECT_FALSE(a.session->retry_after().empty());
  for (const auto& s : sims_) {
    EXPECT_EQ(s->count("SIM_CONNECT"), 0) << s->name();
  }
}

} // namespace
} // namespace pv::deploy::test
