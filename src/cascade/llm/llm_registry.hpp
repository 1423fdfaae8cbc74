#pragma once
// MODEL_PROVIDER -> provider. Built in: "offline" (the rule-based responder), "openai" (any
// OpenAI-compatible Chat Completions server over SSE, llm/openai_llm.hpp) and "anthropic"
// (Messages API, llm/anthropic_llm.hpp), each made from config::LlmSettings. More can be added
// with registry.add(name, factory) where the backend is assembled.

#include "cascade/llm/llm_provider.hpp"
#include "cascade/provider_registry.hpp"
#include "config/cascade_settings.hpp"

namespace pv::cascade {

using LlmRegistry = ProviderRegistry<LlmProvider, config::LlmSettings>;

LlmRegistry builtin_llm_registry();

} // namespace pv::cascade
