#include "personaplex/options.hpp"

#include <filesystem>

namespace pv::personaplex {

tl::expected<BackendOptions, SettingError>
options_from_settings(const config::PersonaPlexSettings& settings, std::string_view outpost_uuid,
                      std::string_view agent_id) {
  BackendOptions options;
  options.mode = settings.mode;
  auto endpoint = chat_endpoint(settings.server_url);
  if (!endpoint) {
    return tl::unexpected(endpoint.error());
  }
  options.endpoint = std::move(*endpoint);
  auto voice = resolve_voice_prompt(settings.voice_prompt);
  if (!voice) {
    return tl::unexpected(voice.error());
  }
  options.voice_file = voice->file_name;
  options.seed = settings.seed;
  if (!settings.text_prompt.empty()) {
    options.prompt = fixed_prompt_builder(settings.text_prompt);
    options.prompt_variable = "PERSONAPLEX_TEXT_PROMPT";
  }
  options.headers.push_back({"X-Session-Key", session_key(outpost_uuid, agent_id)});
  options.tls.verify = !settings.ssl_insecure;
  options.tls.ca_file = settings.ca_file;
  options.connect_timeout_ms = settings.connect_timeout_ms;
  options.handshake_timeout_ms = settings.handshake_timeout_ms;
  options.no_audio_timeout_ms = settings.no_audio_timeout_ms;
  options.jitter_ms = settings.jitter_ms;
  options.opus_complexity = settings.opus_complexity;
  options.session_max_s = settings.session_max_s;
  options.reconnect_min_ms = settings.reconnect_min_ms;
  options.reconnect_max_ms = settings.reconnect_max_ms;
  options.turn_timeout_ms = settings.turn_timeout_ms;
  options.turn_quiet_ms = settings.turn_quiet_ms;
  return options;
}

std::vector<config::Diagnostic> check_settings(const config::PersonaPlexSettings& settings) {
  using Severity = config::Diagnostic::Severity;
  std::vector<config::Diagnostic> out;
  std::string endpoint;
  if (!settings.server_url.empty()) { // emptiness is reported by the config home
    auto checked = chat_endpoint(settings.server_url);
    if (checked) {
      endpoint = *checked;
    } else {
      out.push_back({Severity::error, checked.error().variable, checked.error().message});
    }
  }
  std::string voice_file;
  auto voice = resolve_voice_prompt(settings.voice_prompt);
  if (!voice) {
    out.push_back({Severity::error, voice.error().variable, voice.error().message});
  } else {
    voice_file = voice->file_name;
    if (!voice->warning.empty()) {
      out.push_back({Severity::warning, "PERSONAPLEX_VOICE_PROMPT", voice->warning});
    }
  }
  if (!settings.ca_file.empty()) {
    std::error_code ec;
    if (!std::filesystem::is_regular_file(settings.ca_file, ec)) {
      out.push_back({Severity::error, "PERSONAPLEX_CA_FILE",
                     "PERSONAPLEX_CA_FILE=" + settings.ca_file +
                         " is not a readable file; accepted: a PEM file with the CA certificate "
                         "(e.g. mkcert's rootCA.pem) that signed the server's certificate"});
    }
  }
  // A duplex session may run swap_force_after_s past the horizon before the hard limit switches it.
  const int latest_switch_s = settings.session_max_s + BackendOptions{}.swap_force_after_s;
  if (settings.mode == config::PersonaPlexMode::duplex && latest_switch_s > kContextWindowS) {
    out.push_back({Severity::warning, "PERSONAPLEX_SESSION_MAX_S",
                   "PERSONAPLEX_SESSION_MAX_S=" + std::to_string(settings.session_max_s) +
                       ": a session may then run until " + std::to_string(latest_switch_s) +
                       " s, past the model's ~" + std::to_string(kContextWindowS) +
                       " s context window (3000 steps), where its replies degrade; keep it at or "
                       "below " +
                       std::to_string(kContextWindowS - BackendOptions{}.swap_force_after_s) +
                       " unless the server's window is longer"});
  }
  if (!settings.text_prompt.empty() && !endpoint.empty() && !voice_file.empty()) {
    ChatRequestParams params;
    params.endpoint = endpoint;
    params.voice_file = voice_file;
    params.seed = settings.seed;
    params.prompt = fixed_prompt_builder(settings.text_prompt);
    params.prompt_variable = "PERSONAPLEX_TEXT_PROMPT";
    if (auto request = build_chat_request(params, {}); !request) {
      out.push_back({Severity::error, request.error().variable, request.error().message});
    }
  }
  return out;
}

} // namespace pv::personaplex
