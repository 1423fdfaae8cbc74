#pragma once

#include "config/env_reader.hpp"

#include <cstdint>
#include <optional>
#include <string>

namespace pv::config {

enum class PersonaPlexMode { duplex, turn };

struct PersonaPlexSettings {
  std::string server_url;                // PERSONAPLEX_SERVER_URL (required for personaplex)
  std::string voice_prompt = "NATF2.pt"; // PERSONAPLEX_VOICE_PROMPT
  std::string text_prompt;               // PERSONAPLEX_TEXT_PROMPT (overrides the persona prompt)
  bool ssl_insecure = false;             // PERSONAPLEX_SSL_INSECURE
  std::string ca_file;                   // PERSONAPLEX_CA_FILE
  std::optional<int64_t> seed;           // PERSONAPLEX_SEED (the reference server rejects it)
  PersonaPlexMode mode = PersonaPlexMode::duplex; // PERSONAPLEX_MODE
  int turn_timeout_ms = 30000;                    // PERSONAPLEX_TURN_TIMEOUT_MS
  int turn_quiet_ms = 1200;          // PERSONAPLEX_TURN_QUIET_MS: model quiet -> close turn
  int connect_timeout_ms = 10000;    // PERSONAPLEX_CONNECT_TIMEOUT_MS (TCP + TLS + upgrade)
  int handshake_timeout_ms = 300000; // PERSONAPLEX_HANDSHAKE_TIMEOUT_MS (prompt phase, queue)
  int session_max_s = 220;           // PERSONAPLEX_SESSION_MAX_S (context window ~240 s)
  bool fallback_to_llm = false;      // PERSONAPLEX_FALLBACK_TO_LLM
  int reconnect_min_ms = 500;        // PERSONAPLEX_RECONNECT_MIN_MS
  int reconnect_max_ms = 30000;      // PERSONAPLEX_RECONNECT_MAX_MS
  int jitter_ms = 120;               // PERSONAPLEX_JITTER_MS: playout depth bound
  int opus_complexity = 5;           // PERSONAPLEX_OPUS_COMPLEXITY
  int no_audio_timeout_ms = 5000;    // PERSONAPLEX_NO_AUDIO_TIMEOUT_MS: after handshake
};

void read_personaplex_settings(EnvReader& env, bool backend_selected, PersonaPlexSettings& out);

} // namespace pv::config
