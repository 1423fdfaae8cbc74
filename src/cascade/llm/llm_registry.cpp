#include "cascade/llm/llm_registry.hpp"

#include "cascade/llm/offline_responder.hpp"

namespace pv::cascade {

LlmRegistry builtin_llm_registry() {
  LlmRegistry registry("MODEL_PROVIDER");
  registry.add("offline", [](const config::LlmSettings&) -> LlmRegistry::Result {
    return std::unique_ptr<LlmProvider>(std::make_unique<OfflineResponder>());
  });
  return registry;
}

} // namespace pv::cascade
