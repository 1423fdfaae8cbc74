#include "cascade/asr/asr_registry.hpp"

#include "cascade/asr/openai_asr.hpp"
#include "cascade/asr/pocketsphinx_asr.hpp"

namespace pv::cascade {

AsrRegistry builtin_asr_registry() {
  AsrRegistry registry("ASR_PROVIDER");
  registry.add("pocketsphinx", [](const config::AsrSettings& settings) -> AsrRegistry::Result {
    PocketsphinxParams params;
    params.grammar = settings.grammar;
    return AsrRegistry::upcast(PocketsphinxAsr::create(params));
  });
  registry.add("openai", [](const config::AsrSettings& settings) -> AsrRegistry::Result {
    OpenAiAsrParams params;
    params.base_url = settings.base_url;
    params.api_key = settings.openai_api_key;
    params.model = settings.model;
    return AsrRegistry::upcast(OpenAiAsr::create(std::move(params)));
  });
  return registry;
}

} // namespace pv::cascade
