#pragma once
// TTS_PROVIDER -> provider. Built in: "flite" (embedded) and the HTTP providers "openai"
// (tts/openai_tts.hpp), "google" (tts/google_tts.hpp) and "azure" (tts/azure_tts.hpp), each made
// from config::TtsSettings. More can be added with registry.add(name, factory).

#include "cascade/provider_registry.hpp"
#include "cascade/tts/tts_provider.hpp"
#include "config/cascade_settings.hpp"

namespace pv::cascade {

using TtsRegistry = ProviderRegistry<TtsProvider, config::TtsSettings>;

TtsRegistry builtin_tts_registry();

} // namespace pv::cascade
