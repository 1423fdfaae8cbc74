#include "cascade/tts/tts_registry.hpp"

#include "cascade/tts/azure_tts.hpp"
#include "cascade/tts/flite_tts.hpp"
#include "cascade/tts/google_tts.hpp"
#include "cascade/tts/openai_tts.hpp"

namespace pv::cascade {

TtsRegistry builtin_tts_registry() {
  TtsRegistry registry("TTS_PROVIDER");
  registry.add("flite", [](const config::TtsSettings& settings) -> TtsRegistry::Result {
    FliteParams params;
    params.voice = settings.flite_voice;
    return TtsRegistry::upcast(FliteTts::create(params));
  });
  registry.add("openai", [](const config::TtsSettings& settings) -> TtsRegistry::Result {
    OpenAiTtsParams params;
    params.base_url = settings.openai_base_url;
    params.api_key = settings.openai_api_key;
    params.model = settings.openai_model;
    params.voice = settings.openai_voice;
    return TtsRegistry::upcast(OpenAiTts::create(std::move(params)));
  });
  registry.add("google", [](const config::TtsSettings& settings) -> TtsRegistry::Result {
    GoogleTtsParams params;
    params.base_url = settings.google_base_url;
    params.api_key = settings.google_api_key;
    params.voice = settings.google_voice;
    return TtsRegistry::upcast(GoogleTts::create(std::move(params)));
  });
  registry.add("azure", [](const config::TtsSettings& settings) -> TtsRegistry::Result {
    AzureTtsParams params;
    params.region = settings.azure_region;
    params.base_url = settings.azure_base_url;
    params.api_key = settings.azure_key;
    params.voice = settings.azure_voice;
    params.output_format = settings.azure_output_format;
    return TtsRegistry::upcast(AzureTts::create(std::move(params)));
  });
  return registry;
}

} // namespace pv::cascade
