// The duplex backend's 20 ms path (on_room_frame + fill_agent_frame on the room clock thread)
// must not allocate per frame once a session is streaming: count heap allocations made on the
// calling thread while frames go to a live session and its output is played, and compare them
// with what the WebSocket layer's send alone costs.

#include "personaplex/duplex_backend.hpp"

#include "net/io_thread.hpp"
#include "net/ws_client.hpp"
#include "pp_test_util.hpp"

#include <atomic>
#include <cstdlib>
#include <new>
#include <random>

#include <gtest/gtest.h>

namespace {
thread_local bool g_counting = false;
std::atomic<long> g_allocations{0};
} // namespace

// Replaces the global allocator for this test binary; it only counts when asked to (per thread).
void* operator new(std::size_t size) {
  if (g_counting) {
    g_allocations.fetch_add(1, std::memory_order_relaxed);
  }
  if (void* p = std::malloc(size == 0 ? 1 : size)) {
    return p;
  }
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept {
  std::free(p);
}
void operator delete(void* p, std::size_t) noexcept {
  std::free(p);
}

namespace pv::personaplex {
namespace {

using namespace std::chrono_literals;

// Heap allocations one net::WsClient::send_binary() of a pooled buffer makes on the calling
// thread (the WebSocket layer's post to its strand), measured on a live connection.
long allocations_per_ws_send(const sim::SimServer& server) {
  net::IoThread io;
  net::WsClientParams params;
  params.url = test::chat_url(server);
  auto client = net::WsClient::create(io.context(), params, net::WsClientHandlers{});
  EXPECT_TRUE(client.has_value());
  client->connect();
  for (int i = 0; i < 50; ++i) { // fills the buffer pool (nothing is sent before the 101)
    auto buffer = client->take_buffer();
    buffer.assign(100, 0);
    client->send_binary(std::move(buffer));
    std::this_thread::sleep_for(2ms);
  }
  auto buffer = client->take_buffer();
  buffer.assign(100, 0);
  g_allocations = 0;
  g_counting = true;
  client->send_binary(std::move(buffer));
  g_counting = false;
  return g_allocations.load();
}

TEST(NoAllocation, DuplexClockThreadPathAllocatesNothingOfItsOwn) {
  auto server = test::start_sim(test::fast_sim_params());
  ASSERT_TRUE(server);
  const long per_send = allocations_per_ws_send(*server);
  test::RecordingObserver observer;
  std::atomic<int64_t> ticks{0};
  conversation::BackendContext context{&observer, [&] {
                                         return ticks.load() * 20;
                                       }};
  DuplexBackend backend(test::backend_options(*server));
  ASSERT_TRUE(backend.start(context));
  // Room noise well below the VAD's energy gate: audio flows both ways, no user turns.
  std::mt19937 rng(3);
  std::normal_distribution<double> noise(0.0, 40.0);
  audio::Frame in(audio::kRoomRateHz);
  audio::Frame out(audio::kRoomRateHz);
  auto tick = [&] {
    for (auto& s : in.samples()) {
      s = static_cast<int16_t>(noise(rng));
    }
    backend.on_room_frame(in);
    out.clear_to_silence();
    backend.fill_agent_frame(out);
    ticks.fetch_add(1);
    std::this_thread::sleep_for(5ms); // the io thread writes and recycles the send buffers
  };
  // Warm up: handshake (the session is #2 on the simulator), buffers pooled, playout primed.
  ASSERT_TRUE(test::wait_for([&] {
    tick();
    const auto s = server->sessions();
    return s.size() == 2 && s[1].steps > 50;
  }));
  for (int i = 0; i < 100; ++i) {
    tick();
  }
  constexpr int kFrames = 500;
  g_allocations = 0;
  g_counting = true;
  for (int i = 0; i < kFrames; ++i) {
    tick();
  }
  g_counting = false;
  const long allocations = g_allocations.load();
  const auto steps = server->sessions()[1].steps;
  backend.stop();
  // One message sent per frame; the backend, the session, the codecs, the resamplers, the VAD,
  // the playout and the pooled send buffers add nothing. (The WebSocket layer's own send costs
  // `per_send` allocations per message; when it gets an allocator, this becomes 0.)
  EXPECT_EQ(allocations, kFrames * per_send) << "per WebSocket send: " << per_send;
  EXPECT_GT(steps, 50 + 100 / 4); // the session was really streaming meanwhile
  EXPECT_TRUE(observer.errors().empty());
  EXPECT_TRUE(observer.turns().empty());
}

} // namespace
} // namespace pv::personaplex
