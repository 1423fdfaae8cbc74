#include "config/personaplex_settings.hpp"

namespace pv::config {

// Type and range checks only. Protocol-level validation (URL scheme, voice prompt names, request
// line size) lives with the protocol in src/personaplex/ and runs at start-up via the agent.
void read_personaplex_settings(EnvReader& env, bool backend_selected, PersonaPlexSettings& out) {
  env.section("personaplex");
  out.server_url = env.str("PERSONAPLEX_SERVER_URL", "");
  out.voice_prompt = env.str("PERSONAPLEX_VOICE_PROMPT", out.voice_prompt);
  out.text_prompt = env.str("PERSONAPLEX_TEXT_PROMPT", "");
  out.ssl_insecure = env.boolean("PERSONAPLEX_SSL_INSECURE", false);
  out.ca_file = env.str("PERSONAPLEX_CA_FILE", "");
  out.seed = env.optional_integer("PERSONAPLEX_SEED", -1, 4294967295LL);
  auto mode = env.choice("PERSONAPLEX_MODE", "duplex", {"duplex", "turn"});
  out.mode = mode == "turn" ? PersonaPlexMode::turn : PersonaPlexMode::duplex;
  // The original treated <= 0 as "use 30000"; we reject it instead of guessing.
  out.turn_timeout_ms =
      static_cast<int>(env.integer("PERSONAPLEX_TURN_TIMEOUT_MS", 30000, 1000, 3600000));
  out.turn_quiet_ms =
      static_cast<int>(env.integer("PERSONAPLEX_TURN_QUIET_MS", out.turn_quiet_ms, 100, 60000));
  out.connect_timeout_ms = static_cast<int>(
      env.integer("PERSONAPLEX_CONNECT_TIMEOUT_MS", out.connect_timeout_ms, 100, 600000));
  out.handshake_timeout_ms = static_cast<int>(
      env.integer("PERSONAPLEX_HANDSHAKE_TIMEOUT_MS", out.handshake_timeout_ms, 100, 3600000));
  out.session_max_s =
      static_cast<int>(env.integer("PERSONAPLEX_SESSION_MAX_S", out.session_max_s, 10, 86400));
  out.fallback_to_llm = env.boolean("PERSONAPLEX_FALLBACK_TO_LLM", false);
  out.reconnect_min_ms = static_cast<int>(
      env.integer("PERSONAPLEX_RECONNECT_MIN_MS", out.reconnect_min_ms, 10, 600000));
  out.reconnect_max_ms = static_cast<int>(
      env.integer("PERSONAPLEX_RECONNECT_MAX_MS", out.reconnect_max_ms, 10, 3600000));
  out.jitter_ms = static_cast<int>(env.integer("PERSONAPLEX_JITTER_MS", out.jitter_ms, 40, 2000));
  out.opus_complexity =
      static_cast<int>(env.integer("PERSONAPLEX_OPUS_COMPLEXITY", out.opus_complexity, 0, 10));
  out.no_audio_timeout_ms = static_cast<int>(
      env.integer("PERSONAPLEX_NO_AUDIO_TIMEOUT_MS", out.no_audio_timeout_ms, 500, 600000));

  if (out.reconnect_max_ms < out.reconnect_min_ms) {
    env.error("PERSONAPLEX_RECONNECT_MAX_MS",
              "PERSONAPLEX_RECONNECT_MAX_MS=" + std::to_string(out.reconnect_max_ms) +
                  " is below PERSONAPLEX_RECONNECT_MIN_MS=" + std::to_string(out.reconnect_min_ms) +
                  "; accepted: a value >= the minimum");
  }
  if (!backend_selected) {
    return;
  }
  if (out.server_url.empty()) {
    env.error("PERSONAPLEX_SERVER_URL",
              "PERSONAPLEX_SERVER_URL is empty but CONVERSATION_BACKEND=personaplex; accepted: "
              "http://, https://, ws:// or wss:// URL of a PersonaPlex server, e.g. "
              "https://gpu-host:8998");
  }
  if (out.ssl_insecure) {
    env.warning("PERSONAPLEX_SSL_INSECURE",
                "PERSONAPLEX_SSL_INSECURE=true: TLS certificates and host names of the PersonaPlex "
                "server are NOT verified; anyone on the path can impersonate it. Use "
                "PERSONAPLEX_CA_FILE to trust a self-signed or mkcert root instead.");
  }
  if (out.seed) {
    env.warning("PERSONAPLEX_SEED",
                "PERSONAPLEX_SEED is set: the reference PersonaPlex server (moshi.server) drops "
                "every connection whose URL carries `seed`; only set it for servers known to "
                "accept it");
  }
  if (out.fallback_to_llm) {
    env.warning(
        "PERSONAPLEX_FALLBACK_TO_LLM",
        "PERSONAPLEX_FALLBACK_TO_LLM=true: when PersonaPlex fails, turns are answered by the "
        "ASR/LLM/TTS cascade (its providers must be configured)");
  }
}

} // namespace pv::config
