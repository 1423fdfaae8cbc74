#include "cascade/llm/llm_registry.hpp"

#include "cascade/llm/anthropic_llm.hpp"
#include "cascade/llm/offline_responder.hpp"
#include "cascade/llm/openai_llm.hpp"

namespace pv::cascade {

LlmRegistry builtin_llm_registry() {
  LlmRegistry registry("MODEL_PROVIDER");
  registry.add("offline", [](const config::LlmSettings&) -> LlmRegistry::Result {
    return std::unique_ptr<LlmProvider>(std::make_unique<OfflineResponder>());
  });
  registry.add("openai", [](const config::LlmSettings& settings) -> LlmRegistry::Result {
    OpenAiLlmParams params;
    params.base_url = settings.base_url;
    params.api_key = settings.openai_api_key;
    params.model = settings.openai_model;
    params.idle_timeout = std::chrono::milliseconds(settings.idle_timeout_ms);
    return LlmRegistry::upcast(OpenAiLlm::create(std::move(params)));
  });
  registry.add("anthropic", [](const config::LlmSettings& settings) -> LlmRegistry::Result {
    AnthropicLlmParams params;
    params.base_url = settings.anthropic_base_url;
    params.api_key = settings.anthropic_api_key;
    params.model = settings.anthropic_model;
    params.idle_timeout = std::chrono::milliseconds(settings.idle_timeout_ms);
    return LlmRegistry::upcast(AnthropicLlm::create(std::move(params)));
  });
  return registry;
}

} // namespace pv::cascade
