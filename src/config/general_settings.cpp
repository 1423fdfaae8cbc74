#include "config/general_settings.hpp"

namespace pv::config {

const char* to_string(BackendKind kind) {
  switch (kind) {
  case BackendKind::cascade:
    return "asr-llm-tts";
  case BackendKind::personaplex:
    return "personaplex";
  case BackendKind::loopback:
    return "loopback";
  }
  return "?";
}

void read_general_settings(EnvReader& env, GeneralSettings& out) {
  env.section("general");
  auto backend =
      env.choice("CONVERSATION_BACKEND", "asr-llm-tts", {"asr-llm-tts", "personaplex", "loopback"});
  out.backend = backend == "personaplex" ? BackendKind::personaplex
                : backend == "loopback"  ? BackendKind::loopback
                                         : BackendKind::cascade;
  out.agent_id = env.str("AGENT_ID", "podium-voices");
  out.agent_display_name = env.str("AGENT_DISPLAY_NAME", out.agent_id);
  out.persona_id = env.choice("PERSONA_ID", "default",
                              {"default", "hype", "calm", "influencer", "orator", "podcast_host",
                               "bold_host", "storyteller", "pundit"});
  out.output_dir = env.str("OUTPUT_DIR", "out");
  out.log_transcript_text =
      env.boolean("LOG_TRANSCRIPT_TEXT", false) || env.boolean("E2E_LOG_TRANSCRIPT_TEXT", false);
  out.speaking_hangover_ms =
      static_cast<int>(env.integer("SPEAKING_HANGOVER_MS", out.speaking_hangover_ms, 0, 5000));
  out.speaking_threshold_dbfs =
      env.number("SPEAKING_THRESHOLD_DBFS", out.speaking_threshold_dbfs, -120.0, 0.0);
}

void read_log_settings(EnvReader& env, LogSettings& out) {
  env.section("logging");
  out.level = env.choice("LOG_LEVEL", "info",
                         {"trace", "debug", "info", "warn", "error", "critical", "off"});
  const bool production = env.str("NODE_ENV", "") == "production";
  auto format = env.choice("LOG_FORMAT", production ? "json" : "text", {"text", "json"});
  out.format = format == "json" ? LogFormat::json : LogFormat::text;
  out.file = env.str("LOG_FILE", "");
}

} // namespace pv::config
