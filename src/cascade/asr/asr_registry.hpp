#pragma once
// ASR_PROVIDER -> provider. Built in: "pocketsphinx" (embedded) and "openai" (any OpenAI-compatible
// /audio/transcriptions server, asr/openai_asr.hpp), each made from config::AsrSettings. More can
// be added with registry.add(name, factory) where the backend is assembled.

#include "cascade/asr/asr_provider.hpp"
#include "cascade/provider_registry.hpp"
#include "config/cascade_settings.hpp"

namespace pv::cascade {

using AsrRegistry = ProviderRegistry<AsrProvider, config::AsrSettings>;

AsrRegistry builtin_asr_registry();

} // namespace pv::cascade
