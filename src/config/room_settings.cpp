#include "config/room_settings.hpp"

namespace pv::config {

void read_room_settings(EnvReader& env, const std::string& output_dir, RoomSettings& out) {
  env.section("room");
  auto& p = out.podium;
  p.token = env.str("PODIUM_TOKEN", "", Secret::yes);
  p.outpost_uuid = env.str("PODIUM_OUTPOST_UUID", "");
  p.api_url = env.str("NEXT_PUBLIC_PODIUM_API_URL", p.api_url);
  p.ws_address = env.str("NEXT_PUBLIC_WEBSOCKET_ADDRESS", p.ws_address);
  p.outpost_server = env.str("NEXT_PUBLIC_OUTPOST_SERVER", p.outpost_server);
  p.use_jitsi_bot = env.boolean("USE_JITSI_BOT", false);
  if (p.token.empty() != p.outpost_uuid.empty()) {
    env.warning(p.token.empty() ? "PODIUM_TOKEN" : "PODIUM_OUTPOST_UUID",
                "PODIUM_TOKEN and PODIUM_OUTPOST_UUID must both be set to join a Podium room; "
                "only one is set, so the mock room is used");
  }

  env.section("mock room");
  auto& m = out.mock;
  m.input_wav = env.str("MOCK_ROOM_INPUT_WAV", "");
  m.output_wav = env.str("MOCK_TTS_OUTPUT", output_dir + "/agent.wav");
  m.timeline_json = env.str("MOCK_ROOM_TIMELINE", output_dir + "/timeline.json");
  m.speed = env.number("MOCK_ROOM_SPEED", 1.0, 0.0, 1000.0);
  m.lead_in_ms = static_cast<int>(env.integer("MOCK_ROOM_LEAD_IN_MS", m.lead_in_ms, 0, 600000));
  m.tail_ms = static_cast<int>(env.integer("MOCK_ROOM_TAIL_MS", m.tail_ms, 0, 600000));
  m.max_wait_ms = static_cast<int>(env.integer("MOCK_ROOM_MAX_WAIT_MS", m.max_wait_ms, 0, 3600000));
}

} // namespace pv::config
