#pragma once
// The PersonaPlex conversation backend for a mode: DuplexBackend (one persistent full-duplex
// session) or TurnBackend (one session per user utterance). See docs/personaplex.md.

#include "conversation/backend.hpp"
#include "personaplex/options.hpp"

#include <memory>

namespace pv::personaplex {

std::unique_ptr<conversation::ConversationBackend> make_backend(BackendOptions options);

} // namespace pv::personaplex
