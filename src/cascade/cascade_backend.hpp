#pragma once
// Assembles the cascade backend (CONVERSATION_BACKEND=asr-llm-tts) from the configuration:
// providers from the registries (ASR_PROVIDER, MODEL_PROVIDER, TTS_PROVIDER), the persona and its
// cadence (PERSONA_ID, assets/personas), the filler bank (FILLERS_ENABLED, assets/fillers), the
// VAD/barge-in tuning, deadlines, greeting/opener and memory settings.
//
// Errors name the variable to fix (a provider that cannot be created, a broken cadence file or
// filler manifest); nothing is silently replaced by a stand-in.
// Call at start-up (loads models and files); the returned backend is a cascade::Orchestrator.

#include "cascade/orchestrator.hpp"
#include "config/cascade_settings.hpp"

#include <memory>
#include <string>

#include <tl/expected.hpp>

namespace pv::cascade {

struct CascadeBackendOptions {
  std::string persona_id = "default"; // PERSONA_ID
  // A fallback for another backend (PERSONAPLEX_FALLBACK_TO_LLM): no greeting/opener of its own,
  // and turn ids from a range of its own.
  bool as_fallback = false;
  // Simulated (unpaced) rooms: see OrchestratorParams::sync_wait_ms. 0 for live rooms.
  int sync_wait_ms = 0;
};

// The orchestrator parameters the settings describe (without providers). Loads the persona
// cadence and the filler bank.
tl::expected<OrchestratorParams, std::string>
orchestrator_params_from(const config::CascadeSettings& settings,
                         const CascadeBackendOptions& options);

tl::expected<std::unique_ptr<Orchestrator>, std::string>
make_cascade_backend(const config::CascadeSettings& settings, const CascadeBackendOptions& options);

} // namespace pv::cascade
