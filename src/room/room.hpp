#pragma once
// How the agent talks to a room, whatever the room is (the file-backed mock room here; later the
// Podium REST/WebSocket + Jitsi bridge).
//
// The room owns the media clock: run() ticks every 20 ms from absolute deadlines and, on its clock
// thread, hands the handler what the room's people said and takes what the agent says. Room events
// (participants, reactions, speaking time) are delivered on the same thread between ticks.

#include "audio/frame.hpp"

#include <atomic>
#include <cstdint>
#include <string>

#include <tl/expected.hpp>

namespace pv::room {

struct RoomEvent {
  enum class Kind {
    participant_joined,
    participant_left,
    reaction,        // detail: like|dislike|boo|cheer, amount, target address
    remaining_time,  // seconds left for the agent to speak (value)
    time_is_up,      // the agent may no longer speak
    speaking_allowed // speaking time restored
  };
  Kind kind;
  int64_t media_ms = 0;
  std::string participant; // id/address where relevant
  std::string detail;
  double value = 0;
};

const char* to_string(RoomEvent::Kind kind);

class RoomHandler {
public:
  virtual ~RoomHandler() = default;
  // Clock thread, every 20 ms: `inbound` = room audio (48 kHz, 20 ms); fill `outbound` (48 kHz,
  // 20 ms, preset to silence) with the agent's audio. Must not block.
  virtual void on_audio_tick(const audio::Frame& inbound, audio::Frame& outbound) = 0;
  virtual void on_room_event(const RoomEvent& event) = 0;
  // Asked after each tick once the room has nothing more to say (a scripted room): return true
  // when the agent has finished too, so run() can end.
  virtual bool can_finish() { return true; }
};

struct RoomError {
  std::string message;
};

class Room {
public:
  virtual ~Room() = default;
  virtual std::string_view kind() const = 0;

  // Joins, ticks until `stop` becomes true (or a scripted room finishes), then leaves.
  virtual tl::expected<void, RoomError> run(RoomHandler& handler,
                                            const std::atomic<bool>& stop) = 0;

  // Tell the room the agent started/stopped speaking (Podium start_speaking/stop_speaking).
  // Thread-safe.
  virtual void set_speaking(bool speaking) = 0;

  // Media time: ms since the room started ticking (tick index * 20). Thread-safe.
  virtual int64_t media_time_ms() const = 0;
};

} // namespace pv::room
