#include "pool_test_util.hpp"

#include "log/log.hpp"
#include "personaplex/chat_request.hpp"

#include <algorithm>

namespace pv::deploy::test {

namespace {

const std::vector<std::string> kNames = {"one", "two", "three", "four"};

// A question for the simulator's VAD: 24 kHz speech, then the driver sends silence.
const std::vector<int16_t>& question_24k() {
  static const std::vector<int16_t> speech =
      personaplex::test::speak("hello there, which server are you", 24000);
  return speech;
}

} // namespace

std::string reply_of(const std::string& name) {
  return "This is server " + name + ".";
}

void PoolTest::TearDown() {
  // Clients first (their sessions live on io_), then the pool and the simulators.
  for (auto& client : clients_) {
    client->driver.reset();
    client->session->abort();
  }
  clients_.clear();
  io_.reset();
  pool_.reset();
  sims_.clear();
}

void PoolTest::start_sims(int count, const std::vector<std::string>& extra) {
  log::init(config::LogSettings{"warn", config::LogFormat::text, ""}, {});
  for (int i = 0; i < count; ++i) {
    const std::string& name = kNames.at(sims_.size());
    sims_.push_back(
        std::make_unique<SimProcess>(dir_.path, name, SimOptions{reply_of(name), extra}));
  }
}

std::vector<std::string> PoolTest::sim_addresses() const {
  std::vector<std::string> out;
  for (const auto& s : sims_) {
    out.push_back(s->address());
  }
  return out;
}

void PoolTest::start_pool(PoolOptions options) {
  pool_ = std::make_unique<HaproxyPool>(dir_.path, sim_addresses(), options);
  ASSERT_TRUE(pool_->wait_up(static_cast<int>(sims_.size())))
      << "status: " << pool_->status().value_or(nlohmann::json()).dump() << "\n"
      << pool_->log();
}

std::string PoolTest::pool_url() const {
  personaplex::ChatRequestParams params;
  params.endpoint = *personaplex::chat_endpoint(pool_->origin());
  params.voice_file = "NATF0.pt";
  params.prompt = personaplex::fixed_prompt_builder("You are a test.");
  return personaplex::build_chat_request(params, {})->url;
}

personaplex::SessionParams PoolTest::client_params(const std::string& key) const {
  auto params = personaplex::test::session_params(pool_url());
  params.headers.push_back({"X-Session-Key", key});
  // A queued upgrade gets no answer until a server frees up: only the test's bounds apply.
  params.connect_timeout_ms = 60000;
  params.handshake_timeout_ms = 60000;
  params.no_audio_timeout_ms = 15000;
  params.label = key;
  if (!tls_ca_file_.empty()) {
    params.tls.ca_file = tls_ca_file_;
  }
  return params;
}

PoolClient& PoolTest::connect(const std::string& key) {
  return connect(client_params(key), key);
}

PoolClient& PoolTest::connect(personaplex::SessionParams params, const std::string& key) {
  if (!io_) {
    io_ = std::make_unique<net::IoThread>("pool-test");
  }
  auto created = personaplex::ClientSession::create(io_->context(), std::move(params));
  if (!created) {
    throw std::runtime_error("ClientSession::create: " + created.error().message);
  }
  auto client = std::make_unique<PoolClient>();
  client->key = key;
  client->session = *created;
  client->session->start();
  // Twice real time: the simulated model is input-clocked, so the answer comes sooner.
  client->driver =
      std::make_unique<personaplex::test::SessionDriver>(client->session, question_24k(), 10ms);
  clients_.push_back(std::move(client));
  return *clients_.back();
}

std::string PoolTest::served_by(PoolClient& client) {
  std::string found;
  personaplex::test::wait_for(
      [&] {
        const std::string text = client.session->transcript();
        for (const auto& s : sims_) {
          if (text.find(s->reply_text()) != std::string::npos) {
            found = s->name();
            return true;
          }
        }
        return client.ended();
      },
      kWait);
  return found;
}

void PoolTest::hang_up(PoolClient& client) {
  client.driver->stop();
  client.session->close();
  EXPECT_TRUE(personaplex::test::wait_for([&] { return client.ended(); }, kWait)) << client.key;
}

personaplex::BackendOptions PoolTest::duplex_options(const std::string& key) const {
  personaplex::BackendOptions options;
  options.endpoint = *personaplex::chat_endpoint(pool_->origin());
  options.voice_file = "NATF0.pt";
  options.prompt = personaplex::fixed_prompt_builder("You are a test.");
  options.headers.push_back({"X-Session-Key", key});
  options.connect_timeout_ms = 30000; // a queued upgrade waits without an answer
  options.handshake_timeout_ms = 30000;
  options.no_audio_timeout_ms = 10000;
  options.reconnect_min_ms = 100;
  options.reconnect_max_ms = 1000;
  options.backoff_seed = 1;
  return options;
}

bool PoolTest::wait_member_sessions(const std::string& name, int sessions) {
  const auto it =
      std::find_if(sims_.begin(), sims_.end(), [&](const auto& s) { return s->name() == name; });
  const std::string member = "pp" + std::to_string(it - sims_.begin() + 1);
  return personaplex::test::wait_for(
      [&] {
        const auto status = pool_->status();
        if (!status || !status->contains("members")) {
          return false;
        }
        for (const auto& m : (*status)["members"]) {
          if (m.value("name", std::string()) == member) {
            return m.value("sessions", -1) == sessions;
          }
        }
        return false;
      },
      kWait);
}

bool PoolTest::wait_queued(int queued) {
  return personaplex::test::wait_for(
      [&] {
        const auto status = pool_->status();
        return status && status->value("queued", -1) == queued;
      },
      kWait);
}

SimProcess& PoolTest::sim(const std::string& name) {
  for (auto& s : sims_) {
    if (s->name() == name) {
      return *s;
    }
  }
  throw std::runtime_error("no simulator " + name);
}

std::vector<std::string> PoolTest::serving() const {
  std::vector<std::string> out;
  for (const auto& s : sims_) {
    if (s->count("SIM_HANDSHAKE") > s->count("SIM_CLOSE")) {
      out.push_back(s->name());
    }
  }
  return out;
}

void PoolTest::expect_one_session_per_server() {
  for (const auto& s : sims_) {
    EXPECT_EQ(s->count("SIM_QUEUED"), 0) << "simulator " << s->name() << " queued a session";
    EXPECT_LE(s->max_concurrent_sessions(), 1) << "simulator " << s->name();
  }
}

} // namespace pv::deploy::test
