#include "cascade/asr/asr_registry.hpp"

#include "cascade/asr/openai_asr.hpp"
#include "cascade/asr/pocketsphinx_asr.hpp"

namespace pv::cascade {

AsrRegistry builtin_asr_registry() {
  AsrRegistry registry("ASR_PROVIDER");
  registry.add("pocketsphinx", [](const config::AsrSettings& settings) -> AsrRegistry::Result {
    PocketsphinxParams params;
    params.grammar = settings.grammar;
    auto asr = PocketsphinxAsr::create(params);
    if (!asr) {
      return tl::unexpected(asr.error());
    }
    return std::unique_ptr<AsrProvider>(std::move(*asr));
  });
  registry.add("openai", [](const config::AsrSettings& settings) -> AsrRegistry::Result {
    OpenAiAsrParams params;
    params.base_url = settings.base_url;
    params.api_key = settings.openai_api_key;
    params.model = settings.model;
    auto asr = OpenAiAsr::create(std::move(params));
    if (!asr) {
      return tl::unexpected(asr.error());
    }
    return std::unique_ptr<AsrProvider>(std::move(*asr));
  });
  return registry;
}

} // namespace pv::cascade
