#pragma once

#include "config/env_reader.hpp"

#include <string>

namespace pv::config {

enum class BackendKind { cascade, personaplex, loopback };
const char* to_string(BackendKind kind);

struct GeneralSettings {
  BackendKind backend = BackendKind::cascade; // CONVERSATION_BACKEND=asr-llm-tts
  std::string agent_id = "podium-voices";     // AGENT_ID
  std::string agent_display_name;             // AGENT_DISPLAY_NAME (defaults to agent_id)
  std::string persona_id = "default";         // PERSONA_ID
  std::string output_dir = "out";             // OUTPUT_DIR: agent.wav, timeline.json
  bool log_transcript_text = false;           // LOG_TRANSCRIPT_TEXT || E2E_LOG_TRANSCRIPT_TEXT
  int speaking_hangover_ms = 600;             // SPEAKING_HANGOVER_MS
  double speaking_threshold_dbfs = -50.0;     // SPEAKING_THRESHOLD_DBFS
};

enum class LogFormat { text, json };

struct LogSettings {
  std::string level = "info";         // LOG_LEVEL
  LogFormat format = LogFormat::text; // LOG_FORMAT (NODE_ENV=production implies json)
  std::string file;                   // LOG_FILE (appended; text or json as format)
};

void read_general_settings(EnvReader& env, GeneralSettings& out);
void read_log_settings(EnvReader& env, LogSettings& out);

} // namespace pv::config
