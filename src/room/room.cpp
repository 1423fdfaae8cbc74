#include "room/room.hpp"

namespace pv::room {

const char* to_string(RoomEvent::Kind kind) {
  switch (kind) {
  case RoomEvent::Kind::participant_joined:
    return "participant_joined";
  case RoomEvent::Kind::participant_left:
    return "participant_left";
  case RoomEvent::Kind::reaction:
    return "reaction";
  case RoomEvent::Kind::remaining_time:
    return "remaining_time";
  case RoomEvent::Kind::time_is_up:
    return "time_is_up";
  case RoomEvent::Kind::speaking_allowed:
    return "speaking_allowed";
  }
  return "unknown";
}

} // namespace pv::room
