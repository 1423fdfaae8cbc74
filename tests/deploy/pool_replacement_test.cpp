// The duplex client's context-window replacement behind the pool. The replacement carries the
// agent's X-Session-Key while its old session still runs on the agent's server (maxconn 1):
//  * with an idle server in the pool it goes there, and the switch is seamless;
//  * with none, it is neither refused (refuse mode) nor queued behind other agents (queue mode):
//    it waits ahead of them, the client switches with a gap at a pause past session_max_s
//    (closing the old session), and the replacement gets the freed server.
// The window is 8 s here, so the replacement is opened after ~5 s and the switch is due at 8 s.

#include "pool_test_util.hpp"

#include "personaplex/duplex_backend.hpp"

#include <gtest/gtest.h>

namespace pv::deploy::test {
namespace {

using conversation::ErrorKind;
using personaplex::SessionState;
using personaplex::test::wait_for;

constexpr int kWindowS = 8;

struct Agent {
  personaplex::test::RecordingObserver observer;
  personaplex::test::RoomDriver room; // a silent room: every moment is a pause
  std::unique_ptr<personaplex::DuplexBackend> backend;

  explicit Agent(personaplex::BackendOptions options) {
    options.session_max_s = kWindowS;
    backend = std::make_unique<personaplex::DuplexBackend>(std::move(options));
  }
  ~Agent() { stop(); }
  bool start() {
    if (!backend->start(room.context(observer))) {
      return false;
    }
    room.start(*backend);
    return true;
  }
  void stop() {
    room.stop();
    backend->stop();
  }
  personaplex::DuplexStats stats() const { return backend->stats(); }
};

TEST_F(PoolTest, TheReplacementGoesToAnIdleServerAndTheSwitchIsSeamless) {
  start_sims(2);
  ASSERT_NO_FATAL_FAILURE(start_pool(PoolOptions{}));
  Agent agent(duplex_options("room:agent-r"));
  ASSERT_TRUE(agent.start());
  ASSERT_TRUE(wait_for([&] { return serving().size() == 1; }, kWait));
  const std::string first = serving()[0];

  ASSERT_TRUE(wait_for([&] { return agent.stats().swaps >= 1; }, kWait))
      << "sessions opened " << agent.stats().sessions_opened;
  // The old session is closed after the switch; the new one runs on the other server.
  ASSERT_TRUE(wait_for([&] { return serving().size() == 1 && serving()[0] != first; }, kWait));
  agent.stop();

  const auto stats = agent.stats();
  EXPECT_EQ(stats.gapped_swaps, 0);
  EXPECT_EQ(stats.failures, 0);
  EXPECT_TRUE(agent.observer.errors().empty()) << testing::PrintToString(agent.observer.events());
  for (const auto& s : sims_) {
    EXPECT_EQ(s->count("SIM_HANDSHAKE"), 1) << s->name();
  }
  expect_one_session_per_server();
}

TEST_F(PoolTest, AFullRefusingPoolLetsTheReplacementWaitAndTheClientSwitchesWithAGap) {
  start_sims(1);
  PoolOptions options;
  options.mode = "refuse";
  ASSERT_NO_FATAL_FAILURE(start_pool(options));
  Agent agent(duplex_options("room:agent-r"));
  ASSERT_TRUE(agent.start());
  ASSERT_TRUE(wait_for([&] { return serving().size() == 1; }, kWait));

  // The pool is full: another agent is refused...
  auto& newcomer = connect("room:agent-n");
  ASSERT_TRUE(wait_for([&] { return newcomer.ended(); }, kWait));
  ASSERT_TRUE(newcomer.session->error().has_value());
  EXPECT_NE(newcomer.session->error()->message.find("429"), std::string::npos);

  // ...but the agent's own replacement is not: it waits for the agent's server.
  ASSERT_TRUE(wait_for([&] { return agent.stats().gapped_swaps >= 1; }, kWait));
  ASSERT_TRUE(wait_for([&] { return sim("one").count("SIM_HANDSHAKE") == 2; }, kWait));
  ASSERT_TRUE(wait_for([&] { return agent.stats().healthy && serving().size() == 1; }, kWait));
  agent.stop();

  const auto stats = agent.stats();
  EXPECT_EQ(stats.failures, 0);
  EXPECT_EQ(stats.swaps, 0);
  EXPECT_TRUE(agent.observer.errors().empty())
      << "the replacement was refused: " << testing::PrintToString(agent.observer.events());
  EXPECT_EQ(sim("one").count("SIM_CONNECT"), 2); // the refused newcomer never reached it
  expect_one_session_per_server();
}

TEST_F(PoolTest, TheReplacementWaitsAheadOfAnotherAgentQueuedBeforeIt) {
  start_sims(1);
  ASSERT_NO_FATAL_FAILURE(start_pool(PoolOptions{}));
  Agent agent(duplex_options("room:agent-r"));
  ASSERT_TRUE(agent.start());
  ASSERT_TRUE(wait_for([&] { return serving().size() == 1; }, kWait));
  auto& newcomer = connect("room:agent-n");
  ASSERT_TRUE(wait_queued(1));
  // The replacement joins the queue (some seconds later), behind the newcomer in time.
  ASSERT_TRUE(wait_queued(2));

  // At the switch the agent's server goes to its replacement, not to the earlier newcomer.
  ASSERT_TRUE(wait_for([&] { return agent.stats().gapped_swaps >= 1; }, kWait));
  ASSERT_TRUE(wait_for([&] { return sim("one").count("SIM_HANDSHAKE") == 2; }, kWait));
  ASSERT_TRUE(wait_for([&] { return agent.stats().healthy && serving().size() == 1; }, kWait));
  EXPECT_EQ(newcomer.state(), SessionState::connecting);
  EXPECT_FALSE(newcomer.served());
  ASSERT_TRUE(wait_queued(1));

  // The agent leaves: now the newcomer gets the server.
  agent.stop();
  ASSERT_TRUE(wait_for([&] { return newcomer.served(); }, kWait));
  EXPECT_EQ(served_by(newcomer), "one");
  EXPECT_EQ(agent.stats().failures, 0);
  EXPECT_TRUE(agent.observer.errors().empty()) << testing::PrintToString(agent.observer.events());
  expect_one_session_per_server();
}

} // namespace
} // namespace pv::deploy::test
