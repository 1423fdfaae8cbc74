#pragma once

#include "config/env_reader.hpp"

#include <string>

namespace pv::config {

struct PodiumSettings {
  std::string token;                                             // PODIUM_TOKEN (secret)
  std::string outpost_uuid;                                      // PODIUM_OUTPOST_UUID
  std::string api_url = "https://api.podium.example.com/api/v1"; // NEXT_PUBLIC_PODIUM_API_URL
  std::string ws_address = "wss://ws.podium.example.com/ws";     // NEXT_PUBLIC_WEBSOCKET_ADDRESS
  std::string outpost_server = "meet.jit.si";                    // NEXT_PUBLIC_OUTPOST_SERVER
  bool use_jitsi_bot = false;                                    // USE_JITSI_BOT
  bool configured() const { return !token.empty() && !outpost_uuid.empty(); }
};

struct MockRoomSettings {
  std::string input_wav;     // MOCK_ROOM_INPUT_WAV: what the room's people say ("" = silence)
  std::string output_wav;    // MOCK_TTS_OUTPUT: everything the agent said (48 kHz)
  std::string timeline_json; // MOCK_ROOM_TIMELINE
  double speed = 1.0;        // MOCK_ROOM_SPEED: 1 = real time, 0 = as fast as possible
  int lead_in_ms = 500;      // MOCK_ROOM_LEAD_IN_MS: silence before the script starts
  int tail_ms = 3000;        // MOCK_ROOM_TAIL_MS: silence after the script ends
  int max_wait_ms = 30000;   // MOCK_ROOM_MAX_WAIT_MS: cap on waiting for the agent to finish
};

struct RoomSettings {
  PodiumSettings podium;
  MockRoomSettings mock;
};

void read_room_settings(EnvReader& env, const std::string& output_dir, RoomSettings& out);

} // namespace pv::config
