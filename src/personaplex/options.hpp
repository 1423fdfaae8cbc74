#pragma once
// What the PersonaPlex backends (duplex_backend.hpp, turn_backend.hpp) are built from, how it is
// derived from the PERSONAPLEX_* settings, and the settings' domain checks (--check-config).
// Pure data and functions. (Sessions are opened by session_host.hpp.)

#include "audio/vad_segmenter.hpp"
#include "config/env_reader.hpp"
#include "config/personaplex_settings.hpp"
#include "conversation/backend.hpp"
#include "net/headers.hpp"
#include "net/tls.hpp"
#include "personaplex/chat_request.hpp"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <tl/expected.hpp>

namespace boost::asio {
class io_context;
} // namespace boost::asio

namespace pv::personaplex {

// The model's context window: 3000 steps of 80 ms. A session must be replaced before it runs out.
inline constexpr int kContextWindowS = 240;

struct BackendOptions {
  config::PersonaPlexMode mode = config::PersonaPlexMode::duplex;
  // The request.
  std::string endpoint;   // chat_endpoint(PERSONAPLEX_SERVER_URL)
  std::string voice_file; // resolve_voice_prompt(PERSONAPLEX_VOICE_PROMPT)
  std::optional<int64_t> seed;
  PromptBuilder prompt; // null = fixed_prompt_builder(kDefaultTextPrompt)
  std::string prompt_variable = "PERSONAPLEX_TEXT_PROMPT";
  net::Headers headers; // X-Session-Key
  net::TlsClientParams tls;
  // Session.
  int connect_timeout_ms = 10000;
  int handshake_timeout_ms = 300000;
  int no_audio_timeout_ms = 5000;
  int close_timeout_ms = 3000;
  int jitter_ms = 120; // playout prebuffer; the depth bound is jitter_ms + 100 (one 80 ms page)
  int opus_complexity = 5;
  double audible_threshold_dbfs = -50.0; // output above this is the model speaking
  // Duplex.
  int session_max_s = 220;
  int reconnect_min_ms = 500;
  int reconnect_max_ms = 30000;
  std::optional<uint64_t> backoff_seed; // reproducible jitter (tests)
  int swap_quiet_ms = 240; // the old session's output must be quiet this long to switch
  // The hard limit: this long past session_max_s the switch happens without a pause (crossfade,
  // or a gap if no replacement is ready). 220 + 15 s stays inside the model's ~240 s window.
  int swap_force_after_s = 15;
  // Turn mode (and the duplex turn metrics).
  int turn_timeout_ms = 30000;
  int turn_quiet_ms = 1200;
  int max_queued_turns = 32;
  audio::VadSegmenterParams vad;
  // Where sessions run: a shared io_context (run by ONE thread, outliving the backend), or null
  // for a backend-owned IoThread.
  boost::asio::io_context* io = nullptr;
};

// Session playout parameters for a jitter setting.
inline int playout_max_ms(int jitter_ms) {
  return jitter_ms + 100;
}

// Options from the settings. Errors name the variable (the URL, the voice prompt).
tl::expected<BackendOptions, SettingError>
options_from_settings(const config::PersonaPlexSettings& settings, std::string_view outpost_uuid,
                      std::string_view agent_id);

// Domain diagnostics for --check-config and start-up: URL, voice prompt (errors or warnings), the
// CA file, and the fixed text prompt against the request-line limit.
std::vector<config::Diagnostic> check_settings(const config::PersonaPlexSettings& settings);

} // namespace pv::personaplex
