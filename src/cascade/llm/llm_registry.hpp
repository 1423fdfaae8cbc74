#pragma once
// MODEL_PROVIDER -> provider. Built in: "offline" (the rule-based responder). The HTTP providers
// (openai: OpenAI-compatible SSE; anthropic) are added by the code that assembles the backend:
// registry.add("openai", make_openai_llm).

#include "cascade/llm/llm_provider.hpp"
#include "cascade/provider_registry.hpp"
#include "config/cascade_settings.hpp"

namespace pv::cascade {

using LlmRegistry = ProviderRegistry<LlmProvider, config::LlmSettings>;

LlmRegistry builtin_llm_registry();

} // namespace pv::cascade
