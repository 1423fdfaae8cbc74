#include "cascade/personas.hpp"

#include <array>
#include <cctype>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

namespace pv::cascade {

namespace {

constexpr FeedbackThresholds kDefaultThresholds{};

// Calm reacts to displeasure sooner (it is the de-escalating persona).
constexpr FeedbackThresholds kCalmThresholds{
    .high_positive_cheers = 5,
    .high_positive_likes = 8,
    .positive_cheers = 2,
    .positive_likes = 4,
    .negative_boos = 1,
    .negative_dislikes = 2,
    .high_negative_boos = 2,
    .high_negative_dislikes = 4,
};

const std::array<Persona, 9> kPersonas = {{
    {"default", "Co-host",
     "Be warm, curious and even-handed. Help the conversation flow and bring quieter voices in.",
     kDefaultThresholds, false},
    {"hype", "Hype host",
     "Bring big, upbeat energy: celebrate good points, keep the pace lively and get the room "
     "excited. Stay genuine rather than loud.",
     kDefaultThresholds, false},
    {"calm", "Calm host",
     "Stay calm and grounded. Use a steady, reassuring tone, lower the temperature when things get "
     "heated, and give people room to think.",
     kCalmThresholds, false},
    {"influencer", "Creator",
     "Sound like a relatable creator: casual, personal and a little playful. Share quick takes "
     "and keep inviting the audience to weigh in.",
     kDefaultThresholds, false},
    {"orator", "Orator",
     "Speak like a seasoned orator: measured pace, deliberate pauses, vivid images, and every "
     "answer building to one clear point.",
     kDefaultThresholds, true},
    {"podcast_host", "Podcast host",
     "Be a conversational podcast host: curious and warm, quick to ask a sharp follow-up, and good "
     "at summing up what a guest just said.",
     kDefaultThresholds, true},
    {"bold_host", "Bold host",
     "Be a bold, confident host: take clear positions, push back on weak arguments with respect, "
     "and keep the energy high.",
     kDefaultThresholds, true},
    {"storyteller", "Storyteller",
     "Be a storyteller: turn points into small stories with a hook, a turn and a payoff, and paint "
     "scenes in a few words.",
     kDefaultThresholds, true},
    {"pundit", "Pundit",
     "Be a sharp pundit: crisp analysis, quick comparisons, a clear verdict, then one pointed "
     "question for the room.",
     kDefaultThresholds, true},
}};

constexpr std::string_view kBasePrompt =
    "You are PodiumAI, an AI co-host in a live audio room. People hear you through "
    "text-to-speech, so talk the way people speak: short sentences, no lists, no markdown, no "
    "emojis, no stage directions. React to what the last speaker said before adding your own "
    "thought. Vary your rhythm and keep most replies to one to three sentences. Skip stock "
    "openers and filler praise. Never talk over people; leave room for others to speak. If the "
    "audience cheers or boos, acknowledge it lightly. Keep it friendly: no profanity, no insults.";

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return out;
}

// Provider name -> key under "voice" in the cadence file.
constexpr std::array<std::pair<std::string_view, std::string_view>, 4> kVoiceKeys = {{
    {"google", "googleVoiceName"},
    {"azure", "azureVoiceName"},
    {"openai", "openaiVoice"},
    {"flite", "fliteVoice"},
}};

} // namespace

std::span<const Persona> all_personas() {
  return kPersonas;
}

const Persona& find_persona(std::string_view id) {
  const std::string key = lower(id);
  for (const auto& persona : kPersonas) {
    if (persona.id == key) {
      return persona;
    }
  }
  return kPersonas[0];
}

bool is_known_persona(std::string_view id) {
  const std::string key = lower(id);
  for (const auto& persona : kPersonas) {
    if (persona.id == key) {
      return true;
    }
  }
  return false;
}

std::string_view base_system_prompt() {
  return kBasePrompt;
}

std::string persona_prompt(const Persona& persona) {
  std::string text(kBasePrompt);
  if (!persona.prompt_addendum.empty()) {
    text += "\n\n";
    text += persona.prompt_addendum;
  }
  return text;
}

tl::expected<CadenceProfile, PersonaError> load_cadence_profile(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    return tl::unexpected(PersonaError{"cannot open cadence file " + file.string()});
  }
  std::stringstream text;
  text << in.rdbuf();
  const auto json = nlohmann::json::parse(text.str(), nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded() || !json.is_object()) {
    return tl::unexpected(PersonaError{file.string() + ": not a JSON object"});
  }
  auto fail = [&](const std::string& what) {
    return tl::unexpected(PersonaError{file.string() + ": " + what});
  };
  CadenceProfile profile;
  if (!json.contains("id") || !json["id"].is_string()) {
    return fail("missing string field \"id\"");
  }
  profile.id = json["id"].get<std::string>();
  if (json.contains("name") && json["name"].is_string()) {
    profile.name = json["name"].get<std::string>();
  }
  const auto& ssml = json.contains("ssmlDefaults") ? json["ssmlDefaults"] : nlohmann::json();
  if (!ssml.is_object()) {
    return fail("missing object \"ssmlDefaults\"");
  }
  if (!ssml.contains("ratePercent") || !ssml["ratePercent"].is_number_integer() ||
      !ssml.contains("pitchPercent") || !ssml["pitchPercent"].is_number_integer()) {
    return fail("ssmlDefaults needs integer ratePercent and pitchPercent");
  }
  profile.rate_percent = ssml["ratePercent"].get<int>();
  profile.pitch_percent = ssml["pitchPercent"].get<int>();
  if (profile.rate_percent < 50 || profile.rate_percent > 200) {
    return fail("ratePercent " + std::to_string(profile.rate_percent) + " out of range 50..200");
  }
  if (profile.pitch_percent < -50 || profile.pitch_percent > 100) {
    return fail("pitchPercent " + std::to_string(profile.pitch_percent) + " out of range -50..100");
  }
  if (json.contains("voice")) {
    const auto& voice = json["voice"];
    if (!voice.is_object()) {
      return fail("\"voice\" must be an object");
    }
    for (const auto& [provider, key] : kVoiceKeys) {
      const std::string k(key);
      if (!voice.contains(k)) {
        continue;
      }
      if (!voice[k].is_string()) {
        return fail("voice." + k + " must be a string");
      }
      profile.voices.emplace(std::string(provider), voice[k].get<std::string>());
    }
  }
  return profile;
}

tl::expected<std::optional<CadenceProfile>, PersonaError>
load_persona_cadence(const std::filesystem::path& personas_dir, const Persona& persona) {
  if (!persona.has_cadence) {
    return std::optional<CadenceProfile>();
  }
  auto profile = load_cadence_profile(personas_dir / (std::string(persona.id) + ".json"));
  if (!profile) {
    return tl::unexpected(profile.error());
  }
  if (profile->id != persona.id) {
    return tl::unexpected(PersonaError{"cadence file for '" + std::string(persona.id) +
                                       "' declares id '" + profile->id + "'"});
  }
  return std::optional<CadenceProfile>(std::move(*profile));
}

VoiceOptions voice_options_for(const CadenceProfile* profile, std::string_view tts_provider) {
  VoiceOptions options;
  if (profile == nullptr) {
    return options;
  }
  options.rate_percent = profile->rate_percent;
  options.pitch_percent = profile->pitch_percent;
  if (const auto it = profile->voices.find(lower(tts_provider)); it != profile->voices.end()) {
    options.voice = it->second;
  }
  return options;
}

std::filesystem::path resolve_assets_dir(std::string_view configured) {
  if (!configured.empty()) {
    return std::filesystem::path(configured);
  }
#ifdef PV_SOURCE_DIR
  return std::filesystem::path(PV_SOURCE_DIR) / "assets";
#else
  return std::filesystem::path("assets");
#endif
}

} // namespace pv::cascade
