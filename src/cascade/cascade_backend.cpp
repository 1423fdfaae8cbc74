#include "cascade/cascade_backend.hpp"

#include "cascade/asr/asr_registry.hpp"
#include "cascade/llm/llm_registry.hpp"
#include "cascade/personas.hpp"
#include "cascade/tts/tts_registry.hpp"
#include "cascade/vad_segmenter.hpp"

namespace pv::cascade {

namespace {

constexpr uint64_t kFallbackFirstTurnId = 1000000;

} // namespace

tl::expected<OrchestratorParams, std::string>
orchestrator_params_from(const config::CascadeSettings& settings,
                         const CascadeBackendOptions& options) {
  OrchestratorParams p;
  p.vad = segmenter_params_from(settings.vad);
  p.barge_in = barge_in_params_from(settings.vad);
  p.asr_timeout = std::chrono::milliseconds(settings.asr.timeout_ms);
  p.llm_first_token_timeout = std::chrono::milliseconds(settings.llm.first_token_timeout_ms);
  p.llm_total_timeout = std::chrono::milliseconds(settings.llm.total_timeout_ms);
  p.tts_timeout = std::chrono::milliseconds(settings.tts.timeout_ms);
  p.llm_max_tokens = settings.llm.max_tokens;

  const auto& c = settings.conversation;
  p.persona_id = options.persona_id;
  p.max_turns_in_memory = static_cast<std::size_t>(std::max(0, c.max_turns_in_memory));
  p.feedback_react_to = c.feedback_react_to_address;
  p.filler_delay_ms = c.filler_delay_ms;
  if (!options.as_fallback) {
    p.greeting_text = c.greeting_text;
    p.greeting_delay_ms = c.greeting_delay_ms;
    p.opener_enabled = c.opener_enabled;
    p.opener_delay_ms = c.opener_delay_ms;
    p.opener_max_tokens = c.opener_max_tokens;
    p.topic_seed = c.topic_seed;
  } else {
    p.first_turn_id = kFallbackFirstTurnId;
  }
  p.sync_wait_ms = options.sync_wait_ms;

  const auto assets = resolve_assets_dir(c.assets_dir);
  const Persona& persona = find_persona(options.persona_id);
  auto cadence = load_persona_cadence(assets / "personas", persona);
  if (!cadence) {
    return tl::make_unexpected("PERSONA_ID=" + options.persona_id + ": " + cadence.error().message +
                               " (check ASSETS_DIR)");
  }
  p.voice = voice_options_for(cadence->has_value() ? &**cadence : nullptr, settings.tts.provider);

  if (c.fillers_enabled) {
    auto bank = FillerBank::load(assets / "fillers", options.persona_id);
    if (!bank) {
      return tl::make_unexpected(
          "FILLERS_ENABLED=true, but the filler clips cannot be loaded: " + bank.error().message +
          " (check ASSETS_DIR, or set FILLERS_ENABLED=false)");
    }
    p.fillers = std::make_shared<const FillerBank>(std::move(*bank));
  }
  return p;
}

tl::expected<std::unique_ptr<Orchestrator>, std::string>
make_cascade_backend(const config::CascadeSettings& settings,
                     const CascadeBackendOptions& options) {
  auto params = orchestrator_params_from(settings, options);
  if (!params) {
    return tl::make_unexpected(params.error());
  }
  OrchestratorProviders providers;
  auto asr = builtin_asr_registry().create(settings.asr.provider, settings.asr);
  if (!asr) {
    return tl::make_unexpected("ASR_PROVIDER=" + settings.asr.provider + ": " +
                               asr.error().message);
  }
  providers.asr = std::move(*asr);
  auto llm = builtin_llm_registry().create(settings.llm.provider, settings.llm);
  if (!llm) {
    return tl::make_unexpected("MODEL_PROVIDER=" + settings.llm.provider + ": " +
                               llm.error().message);
  }
  providers.llm = std::move(*llm);
  auto tts = builtin_tts_registry().create(settings.tts.provider, settings.tts);
  if (!tts) {
    return tl::make_unexpected("TTS_PROVIDER=" + settings.tts.provider + ": " +
                               tts.error().message);
  }
  providers.tts = std::move(*tts);
  auto orchestrator = Orchestrator::create(std::move(*params), std::move(providers));
  if (!orchestrator) {
    return tl::make_unexpected(orchestrator.error().message);
  }
  return std::move(*orchestrator);
}

} // namespace pv::cascade
