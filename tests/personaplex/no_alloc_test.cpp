// The duplex backend's 20 ms path (on_room_frame + fill_agent_frame on the room clock thread)
// must not allocate per frame once a session is streaming: count heap allocations made on the
// calling thread while frames go to a live session and its output is played: there must be none.

#include "personaplex/duplex_backend.hpp"

#include "pp_test_util.hpp"
#include "support/alloc_counter.hpp"

#include <atomic>
#include <random>

#include <gtest/gtest.h>

namespace pv::personaplex {
namespace {

using namespace std::chrono_literals;

TEST(NoAllocation, DuplexClockThreadPathAllocatesNothing) {
  auto server = test::start_sim(test::fast_sim_params());
  ASSERT_TRUE(server);
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
  // Warm up: handshake, buffers pooled, playout primed.
  ASSERT_TRUE(test::wait_for([&] {
    tick();
    const auto s = server->sessions();
    return s.size() == 1 && s[0].steps > 50;
  }));
  for (int i = 0; i < 100; ++i) {
    tick();
  }
  constexpr int kFrames = 500;
  pv::test::AllocationCount count;
  for (int i = 0; i < kFrames; ++i) {
    tick();
  }
  const long allocations = count.stop();
  const auto steps = server->sessions()[0].steps;
  backend.stop();
  // One message sent per frame (the io thread drains between frames, so each send posts a
  // drain); the backend, the session, the codecs, the resamplers, the VAD, the playout, the
  // pooled send buffers and the WebSocket send path add nothing.
  EXPECT_EQ(allocations, 0);
  EXPECT_GT(steps, 50 + 100 / 4); // the session was really streaming meanwhile
  EXPECT_TRUE(observer.errors().empty());
  EXPECT_TRUE(observer.turns().empty());
}

} // namespace
} // namespace pv::personaplex
