#pragma once
// TTS_PROVIDER -> provider. Built in: "flite". HTTP providers (openai, google, azure) are added by
// the code that assembles the backend: registry.add("google", make_google_tts).

#include "cascade/provider_registry.hpp"
#include "cascade/tts/tts_provider.hpp"
#include "config/cascade_settings.hpp"

namespace pv::cascade {

using TtsRegistry = ProviderRegistry<TtsProvider, config::TtsSettings>;

TtsRegistry builtin_tts_registry();

} // namespace pv::cascade
