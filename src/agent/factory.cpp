#include "agent/factory.hpp"

#include "agent/loopback_backend.hpp"
#include "cascade/cascade_backend.hpp"
#include "cascade/memory.hpp"
#include "cascade/personas.hpp"
#include "cascade/prompts.hpp"
#include "cascade/vad_segmenter.hpp"
#include "personaplex/backend.hpp"

namespace pv::agent {

namespace {

// PersonaPlex's text prompt from the persona (never trimmed) plus what the agent said so far,
// trimmed by the cascade's prompt builder to the request-line budget.
personaplex::PromptBuilder persona_prompt_builder(const config::Settings& settings) {
  const cascade::Persona* persona = &cascade::find_persona(settings.general.persona_id);
  return [persona](std::size_t max_encoded_bytes, const personaplex::PromptContext& context) {
    std::vector<cascade::MemoryTurn> history;
    history.reserve(context.agent_said.size());
    for (const auto& line : context.agent_said) {
      history.push_back(cascade::MemoryTurn{cascade::Role::assistant, line, 0, false});
    }
    return cascade::build_personaplex_prompt(*persona, history, "", max_encoded_bytes,
                                             cascade::PromptBudgetUnit::url_encoded_bytes)
        .text;
  };
}

// The ASR/LLM/TTS cascade, as the main backend or as PersonaPlex's fallback
// (PERSONAPLEX_FALLBACK_TO_LLM). An unpaced or accelerated mock room is a simulation: the cascade
// then runs in lockstep with the room clock so the room cannot outrun the providers.
tl::expected<std::unique_ptr<conversation::ConversationBackend>, std::string>
make_cascade(const config::Settings& settings, bool as_fallback) {
  cascade::CascadeBackendOptions options;
  options.persona_id = settings.general.persona_id;
  options.as_fallback = as_fallback;
  const double speed = settings.room.mock.speed;
  if (!settings.room.podium.configured() && (speed <= 0.0 || speed > 1.0)) {
    options.sync_wait_ms = 20;
  }
  auto backend = cascade::make_cascade_backend(settings.cascade, options);
  if (!backend) {
    return tl::make_unexpected(backend.error());
  }
  return std::unique_ptr<conversation::ConversationBackend>(std::move(*backend));
}

tl::expected<std::unique_ptr<conversation::ConversationBackend>, std::string>
make_cascade_fallback(const config::Settings& settings) {
  return make_cascade(settings, true);
}

} // namespace

void validate_settings(config::LoadedSettings& loaded) {
  const config::Settings& settings = loaded.settings;
  if (settings.general.backend != config::BackendKind::personaplex) {
    return;
  }
  const auto diagnostics = personaplex::check_settings(settings.personaplex);
  loaded.diagnostics.insert(loaded.diagnostics.end(), diagnostics.begin(), diagnostics.end());
  // The persona prompt (when PERSONAPLEX_TEXT_PROMPT does not replace it) must fit too.
  if (settings.personaplex.text_prompt.empty()) {
    auto endpoint = personaplex::chat_endpoint(settings.personaplex.server_url);
    auto voice = personaplex::resolve_voice_prompt(settings.personaplex.voice_prompt);
    if (endpoint && voice) {
      personaplex::ChatRequestParams params;
      params.endpoint = *endpoint;
      params.voice_file = voice->file_name;
      params.seed = settings.personaplex.seed;
      params.prompt = persona_prompt_builder(settings);
      params.prompt_variable = "PERSONA_ID";
      if (auto request = personaplex::build_chat_request(params, {}); !request) {
        loaded.diagnostics.push_back({config::Diagnostic::Severity::error, request.error().variable,
                                      request.error().message});
      }
    }
  }
}

tl::expected<Backends, std::string> make_backends(const config::Settings& settings) {
  Backends backends;
  switch (settings.general.backend) {
  case config::BackendKind::loopback:
    backends.primary = std::make_unique<LoopbackBackend>();
    return backends;
  case config::BackendKind::personaplex: {
    auto options = personaplex::options_from_settings(
        settings.personaplex, settings.room.podium.outpost_uuid, settings.general.agent_id);
    if (!options) {
      return tl::make_unexpected(options.error().message);
    }
    if (settings.personaplex.text_prompt.empty()) {
      options->prompt = persona_prompt_builder(settings);
      options->prompt_variable = "PERSONA_ID";
    }
    options->vad = cascade::segmenter_params_from(settings.cascade.vad);
    backends.primary = personaplex::make_backend(std::move(*options));
    if (settings.personaplex.fallback_to_llm) {
      auto fallback = make_cascade_fallback(settings);
      if (!fallback) {
        return tl::make_unexpected(fallback.error());
      }
      backends.fallback = std::move(*fallback);
    }
    return backends;
  }
  case config::BackendKind::cascade: {
    auto cascade = make_cascade(settings, false);
    if (!cascade) {
      return tl::make_unexpected(cascade.error());
    }
    backends.primary = std::move(*cascade);
    return backends;
  }
  }
  return tl::make_unexpected(std::string("CONVERSATION_BACKEND=") +
                             config::to_string(settings.general.backend) +
                             " is not recognised; accepted: asr-llm-tts, personaplex, loopback");
}

} // namespace pv::agent
