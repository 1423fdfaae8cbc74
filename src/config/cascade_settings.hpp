#pragma once

#include "config/env_reader.hpp"

#include <string>

namespace pv::config {

struct VadSettings {
  int aggressiveness = 2;     // VAD_AGGRESSIVENESS 0..3 (WebRTC VAD mode)
  int energy_threshold = 300; // VAD_ENERGY_THRESHOLD: RMS (s16) below which a frame is silence
  int silence_ms = 500;       // VAD_SILENCE_MS: end of turn after this much silence
  int preroll_ms = 200;       // VAD_PREROLL_MS: audio kept from before detected speech
  int min_speech_ms = 200;    // VAD_MIN_SPEECH_MS: shorter bursts are not a turn
  int max_segment_ms = 15000; // VAD_MAX_SEGMENT_MS: a turn is cut here
  int barge_in_min_ms = 300;  // BARGE_IN_MIN_MS: user speech over the agent that stops it
};

struct AsrSettings {
  std::string provider = "pocketsphinx";              // ASR_PROVIDER: pocketsphinx | openai
  std::string openai_api_key;                         // OPENAI_API_KEY (secret)
  std::string base_url = "https://api.openai.com/v1"; // ASR_BASE_URL
  std::string model = "whisper-1";                    // ASR_MODEL
  std::string grammar;                                // ASR_GRAMMAR: JSGF file for pocketsphinx
  int timeout_ms = 20000;                             // ASR_TIMEOUT_MS
};

struct LlmSettings {
  std::string provider = "offline"; // MODEL_PROVIDER || LLM_PROVIDER: openai|anthropic|offline
  std::string openai_api_key;       // OPENAI_API_KEY (secret)
  std::string base_url = "https://api.openai.com/v1";           // LLM_BASE_URL
  std::string openai_model = "gpt-4o-mini";                     // OPENAI_MODEL_NAME
  std::string anthropic_api_key;                                // ANTHROPIC_API_KEY (secret)
  std::string anthropic_base_url = "https://api.anthropic.com"; // ANTHROPIC_BASE_URL
  std::string anthropic_model = "claude-3-5-sonnet-20241022";   // ANTHROPIC_MODEL_NAME
  int first_token_timeout_ms = 8000;                            // LLM_FIRST_TOKEN_TIMEOUT_MS
  int total_timeout_ms = 25000;                                 // LLM_TOTAL_TIMEOUT_MS
  int idle_timeout_ms = 5000; // LLM_IDLE_TIMEOUT_MS: longest gap between streamed text pieces
  int max_tokens = 150;       // LLM_MAX_TOKENS
};

struct TtsSettings {
  std::string provider = "flite";    // TTS_PROVIDER: flite | openai | google | azure
  std::string flite_voice = "kal16"; // FLITE_VOICE
  std::string google_api_key;        // Google_Cloud_TTS_API_KEY || GOOGLE_CLOUD_TTS_API_KEY
  std::string google_voice = "en-US-Neural2-D";                        // GOOGLE_TTS_VOICE_NAME
  std::string google_base_url = "https://texttospeech.googleapis.com"; // GOOGLE_TTS_BASE_URL
  std::string azure_key;                                               // AZURE_TTS_KEY (secret)
  std::string azure_region;                                            // AZURE_TTS_REGION
  std::string azure_voice = "en-US-JennyNeural";                       // AZURE_TTS_VOICE_NAME
  std::string azure_base_url; // AZURE_TTS_BASE_URL (default from region)
  std::string azure_output_format = "raw-24khz-16bit-mono-pcm"; // AZURE_TTS_OUTPUT_FORMAT
  std::string openai_api_key;                                   // OPENAI_API_KEY (secret)
  std::string openai_base_url = "https://api.openai.com/v1";    // TTS_BASE_URL
  std::string openai_model = "tts-1";                           // OPENAI_TTS_MODEL
  std::string openai_voice = "alloy";                           // OPENAI_TTS_VOICE
  int timeout_ms = 15000;                                       // TTS_TIMEOUT_MS
};

struct ConversationSettings {
  int max_turns_in_memory = 50;          // MAX_TURNS_IN_MEMORY
  std::string greeting_text;             // GREETING_TEXT
  int greeting_delay_ms = 2000;          // GREETING_DELAY_MS
  bool opener_enabled = true;            // OPENER_ENABLED (unset = true, as the original)
  int opener_delay_ms = 2500;            // OPENER_DELAY_MS
  int opener_max_tokens = 180;           // OPENER_MAX_TOKENS
  std::string topic_seed;                // TOPIC_SEED
  std::string feedback_react_to_address; // FEEDBACK_REACT_TO_ADDRESS ("" all, "self", "0x...")
  bool fillers_enabled = true;           // FILLERS_ENABLED
  int filler_delay_ms = 700; // FILLER_DELAY_MS: a filler plays if the reply is this late
  std::string assets_dir;    // ASSETS_DIR: personas/ and fillers/ (default: built-in path)
};

struct CascadeSettings {
  VadSettings vad;
  AsrSettings asr;
  LlmSettings llm;
  TtsSettings tts;
  ConversationSettings conversation;
};

void read_cascade_settings(EnvReader& env, bool backend_selected, CascadeSettings& out);

} // namespace pv::config
