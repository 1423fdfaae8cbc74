#pragma once
// The nine built-in personas (PERSONA_ID): prompt addendum, audience-feedback thresholds and,
// for the five cadence personas, a cadence file assets/personas/<id>.json with TTS rate/pitch and
// one voice name PER TTS PROVIDER.
//
// Cadence file (a subset of the original's schema; only these fields are read, the rest is
// documentation for humans):
//   { "id": "orator", "name": "...", "inspiration": "...",
//     "styleContract": { "wpm": { "baseline": { "min": 135, "max": 160 } } },   // documentation
//     "writingGuidelines": { "summary": "..." },                                // documentation
//     "ssmlDefaults": { "ratePercent": 92, "pitchPercent": -2 },                // used
//     "voice": { "googleVoiceName": "...", "azureVoiceName": "...",            // used, per
//                "openaiVoice": "...", "fliteVoice": "kal16" } }                // provider
// voice_options_for(profile, provider) only ever returns the voice name of THAT provider, so a
// Google voice name can never reach Azure (the original sent Google names to Azure).
// Everything here is immutable after loading: thread-safe.

#include "cascade/tts/tts_provider.hpp"

#include <filesystem>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <tl/expected.hpp>

namespace pv::cascade {

// Reaction counts (within the feedback window) needed for each behaviour level. A level is met
// when either count reaches its threshold.
struct FeedbackThresholds {
  int high_positive_cheers = 5;
  int high_positive_likes = 8;
  int positive_cheers = 2;
  int positive_likes = 4;
  int negative_boos = 2;
  int negative_dislikes = 4;
  int high_negative_boos = 4;
  int high_negative_dislikes = 8;
};

struct Persona {
  std::string_view id;
  std::string_view display_name;
  std::string_view prompt_addendum; // appended to the base co-host prompt
  FeedbackThresholds thresholds;
  bool has_cadence = false; // assets/personas/<id>.json exists for it
};

std::span<const Persona> all_personas();
// Case-insensitive; unknown ids give the default persona.
const Persona& find_persona(std::string_view id);
bool is_known_persona(std::string_view id);

// The shared co-host instructions every persona starts from.
std::string_view base_system_prompt();
// Base prompt + the persona's addendum: what PersonaPlex and the LLM get as the persona text.
std::string persona_prompt(const Persona& persona);

struct CadenceProfile {
  std::string id;
  std::string name;
  int rate_percent = 100;
  int pitch_percent = 0;
  std::map<std::string, std::string> voices; // TTS provider name -> that provider's voice name
};

struct PersonaError {
  std::string message; // names the file and the problem
};

// Parses and validates one cadence file (ranges: rate 50..200 %, pitch -50..100 %).
tl::expected<CadenceProfile, PersonaError> load_cadence_profile(const std::filesystem::path& file);
// The cadence of `persona` from `personas_dir` (assets/personas); nullopt for personas without
// one. A cadence persona whose file is missing or invalid is an error.
tl::expected<std::optional<CadenceProfile>, PersonaError>
load_persona_cadence(const std::filesystem::path& personas_dir, const Persona& persona);

// TTS voice options for `tts_provider` ("flite", "google", "azure", "openai"): rate and pitch from
// the profile, the voice name only from that provider's own entry (empty = provider default).
// No profile: default options.
VoiceOptions voice_options_for(const CadenceProfile* profile, std::string_view tts_provider);

// The repository's assets directory unless `configured` (ASSETS_DIR) is set.
std::filesystem::path resolve_assets_dir(std::string_view configured);

} // namespace pv::cascade
