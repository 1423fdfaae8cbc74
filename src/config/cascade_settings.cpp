#include "config/cascade_settings.hpp"

namespace pv::config {

void read_cascade_settings(EnvReader& env, bool backend_selected, CascadeSettings& out) {
  env.section("vad");
  auto& v = out.vad;
  v.aggressiveness = static_cast<int>(env.integer("VAD_AGGRESSIVENESS", v.aggressiveness, 0, 3));
  v.energy_threshold =
      static_cast<int>(env.integer("VAD_ENERGY_THRESHOLD", v.energy_threshold, 0, 32767));
  // The original silently turned VAD_SILENCE_MS=0 into 500; 0 is now rejected by the range.
  v.silence_ms = static_cast<int>(env.integer("VAD_SILENCE_MS", v.silence_ms, 60, 10000));
  v.preroll_ms = static_cast<int>(env.integer("VAD_PREROLL_MS", v.preroll_ms, 0, 2000));
  v.min_speech_ms = static_cast<int>(env.integer("VAD_MIN_SPEECH_MS", v.min_speech_ms, 0, 5000));
  v.max_segment_ms =
      static_cast<int>(env.integer("VAD_MAX_SEGMENT_MS", v.max_segment_ms, 1000, 120000));
  v.barge_in_min_ms = static_cast<int>(env.integer("BARGE_IN_MIN_MS", v.barge_in_min_ms, 20, 5000));

  env.section("asr");
  auto& a = out.asr;
  a.provider = env.choice("ASR_PROVIDER", "pocketsphinx", {"pocketsphinx", "openai"});
  a.openai_api_key = env.str("OPENAI_API_KEY", "", Secret::yes);
  a.base_url = env.str("ASR_BASE_URL", a.base_url);
  a.model = env.str("ASR_MODEL", a.model);
  a.grammar = env.str("ASR_GRAMMAR", "");
  a.timeout_ms = static_cast<int>(env.integer("ASR_TIMEOUT_MS", a.timeout_ms, 100, 600000));

  env.section("llm");
  auto& l = out.llm;
  l.openai_api_key = a.openai_api_key;
  l.base_url = env.str("LLM_BASE_URL", l.base_url);
  l.openai_model = env.str("OPENAI_MODEL_NAME", l.openai_model);
  l.anthropic_api_key = env.str("ANTHROPIC_API_KEY", "", Secret::yes);
  l.anthropic_base_url = env.str("ANTHROPIC_BASE_URL", l.anthropic_base_url);
  l.anthropic_model = env.str("ANTHROPIC_MODEL_NAME", l.anthropic_model);
  // Unset provider: a configured key picks its provider, otherwise the offline responder.
  const bool openai_configured = !l.openai_api_key.empty() || env.is_set("LLM_BASE_URL");
  const char* auto_provider = openai_configured              ? "openai"
                              : !l.anthropic_api_key.empty() ? "anthropic"
                                                             : "offline";
  l.provider = env.str_any({"MODEL_PROVIDER", "LLM_PROVIDER"}, auto_provider);
  if (l.provider != "openai" && l.provider != "anthropic" && l.provider != "offline") {
    env.error("MODEL_PROVIDER", "MODEL_PROVIDER/LLM_PROVIDER='" + l.provider +
                                    "' is not recognised; accepted: openai, anthropic, offline");
  }
  l.first_token_timeout_ms = static_cast<int>(
      env.integer("LLM_FIRST_TOKEN_TIMEOUT_MS", l.first_token_timeout_ms, 100, 600000));
  l.total_timeout_ms =
      static_cast<int>(env.integer("LLM_TOTAL_TIMEOUT_MS", l.total_timeout_ms, 100, 600000));
  l.idle_timeout_ms =
      static_cast<int>(env.integer("LLM_IDLE_TIMEOUT_MS", l.idle_timeout_ms, 100, 600000));
  l.max_tokens = static_cast<int>(env.integer("LLM_MAX_TOKENS", l.max_tokens, 1, 8192));

  env.section("tts");
  auto& t = out.tts;
  t.provider = env.choice("TTS_PROVIDER", "flite", {"flite", "openai", "google", "azure"});
  t.flite_voice = env.choice("FLITE_VOICE", "kal16", {"kal16", "slt"});
  t.google_api_key =
      env.str_any({"Google_Cloud_TTS_API_KEY", "GOOGLE_CLOUD_TTS_API_KEY"}, "", Secret::yes);
  t.google_voice = env.str("GOOGLE_TTS_VOICE_NAME", t.google_voice);
  t.google_base_url = env.str("GOOGLE_TTS_BASE_URL", t.google_base_url);
  t.azure_key = env.str("AZURE_TTS_KEY", "", Secret::yes);
  t.azure_region = env.str("AZURE_TTS_REGION", "");
  t.azure_voice = env.str("AZURE_TTS_VOICE_NAME", t.azure_voice);
  t.azure_base_url = env.str("AZURE_TTS_BASE_URL", "");
  t.azure_output_format = env.choice("AZURE_TTS_OUTPUT_FORMAT", t.azure_output_format,
                                     {"raw-8khz-16bit-mono-pcm", "raw-16khz-16bit-mono-pcm",
                                      "raw-22050hz-16bit-mono-pcm", "raw-24khz-16bit-mono-pcm",
                                      "raw-44100hz-16bit-mono-pcm", "raw-48khz-16bit-mono-pcm"});
  t.openai_api_key = a.openai_api_key;
  t.openai_base_url = env.str("TTS_BASE_URL", t.openai_base_url);
  t.openai_model = env.str("OPENAI_TTS_MODEL", t.openai_model);
  t.openai_voice = env.str("OPENAI_TTS_VOICE", t.openai_voice);
  t.timeout_ms = static_cast<int>(env.integer("TTS_TIMEOUT_MS", t.timeout_ms, 100, 600000));

  env.section("conversation");
  auto& c = out.conversation;
  c.max_turns_in_memory =
      static_cast<int>(env.integer("MAX_TURNS_IN_MEMORY", c.max_turns_in_memory, 0, 10000));
  c.greeting_text = env.str("GREETING_TEXT", "");
  c.greeting_delay_ms =
      static_cast<int>(env.integer("GREETING_DELAY_MS", c.greeting_delay_ms, 0, 600000));
  c.opener_enabled = env.boolean("OPENER_ENABLED", c.opener_enabled);
  c.opener_delay_ms =
      static_cast<int>(env.integer("OPENER_DELAY_MS", c.opener_delay_ms, 0, 600000));
  c.opener_max_tokens =
      static_cast<int>(env.integer("OPENER_MAX_TOKENS", c.opener_max_tokens, 1, 8192));
  c.topic_seed = env.str("TOPIC_SEED", "");
  c.feedback_react_to_address = env.str("FEEDBACK_REACT_TO_ADDRESS", "");
  c.fillers_enabled = env.boolean("FILLERS_ENABLED", c.fillers_enabled);
  c.filler_delay_ms = static_cast<int>(env.integer("FILLER_DELAY_MS", c.filler_delay_ms, 0, 60000));
  c.assets_dir = env.str("ASSETS_DIR", "");

  if (!backend_selected) {
    return;
  }
  // Provider-specific requirements, named by variable.
  if (a.provider == "openai" && a.openai_api_key.empty() &&
      a.base_url == "https://api.openai.com/v1") {
    env.error("OPENAI_API_KEY",
              "ASR_PROVIDER=openai needs OPENAI_API_KEY (or ASR_BASE_URL pointing "
              "at a self-hosted OpenAI-compatible whisper server)");
  }
  if (l.provider == "openai" && l.openai_api_key.empty() &&
      l.base_url == "https://api.openai.com/v1") {
    env.error("OPENAI_API_KEY", "MODEL_PROVIDER=openai needs OPENAI_API_KEY (or LLM_BASE_URL for a "
                                "local llama.cpp/vLLM/Ollama server)");
  }
  if (l.provider == "anthropic" && l.anthropic_api_key.empty()) {
    env.error("ANTHROPIC_API_KEY", "MODEL_PROVIDER=anthropic needs ANTHROPIC_API_KEY");
  }
  if (l.provider == "offline") {
    env.warning("MODEL_PROVIDER",
                "no LLM is configured (MODEL_PROVIDER unset and no OPENAI_API_KEY, LLM_BASE_URL or "
                "ANTHROPIC_API_KEY): replies come from the built-in OFFLINE responder, which "
                "follows simple rules and is not a language model");
  }
  if (t.provider == "google" && t.google_api_key.empty()) {
    env.error("GOOGLE_CLOUD_TTS_API_KEY", "TTS_PROVIDER=google needs GOOGLE_CLOUD_TTS_API_KEY "
                                          "(or Google_Cloud_TTS_API_KEY)");
  }
  if (t.provider == "azure" &&
      (t.azure_key.empty() || (t.azure_region.empty() && t.azure_base_url.empty()))) {
    env.error(t.azure_key.empty() ? "AZURE_TTS_KEY" : "AZURE_TTS_REGION",
              "TTS_PROVIDER=azure needs AZURE_TTS_KEY and AZURE_TTS_REGION");
  }
  if (t.provider == "openai" && t.openai_api_key.empty() &&
      t.openai_base_url == "https://api.openai.com/v1") {
    env.error("OPENAI_API_KEY", "TTS_PROVIDER=openai needs OPENAI_API_KEY (or TTS_BASE_URL)");
  }
}

} // namespace pv::config
