#pragma once
// ASR_PROVIDER -> provider. Built in: "pocketsphinx". The OpenAI-compatible HTTP provider is added
// by the code that assembles the backend: registry.add("openai", make_openai_asr).

#include "cascade/asr/asr_provider.hpp"
#include "cascade/provider_registry.hpp"
#include "config/cascade_settings.hpp"

namespace pv::cascade {

using AsrRegistry = ProviderRegistry<AsrProvider, config::AsrSettings>;

AsrRegistry builtin_asr_registry();

} // namespace pv::cascade
