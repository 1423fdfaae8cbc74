#include "cascade/tts/tts_registry.hpp"

#include "cascade/tts/flite_tts.hpp"

namespace pv::cascade {

TtsRegistry builtin_tts_registry() {
  TtsRegistry registry("TTS_PROVIDER");
  registry.add("flite", [](const config::TtsSettings& settings) -> TtsRegistry::Result {
    FliteParams params;
    params.voice = settings.flite_voice;
    auto tts = FliteTts::create(params);
    if (!tts) {
      return tl::unexpected(tts.error());
    }
    return std::unique_ptr<TtsProvider>(std::move(*tts));
  });
  return registry;
}

} // namespace pv::cascade
