#pragma once
// A scripted room user for the main job and the end-to-end tests: several utterances spoken by
// flite with pauses between them, timed so that one of them starts while the agent is still
// answering the previous one (a barge-in). Written as a WAV plus the mock room's sidecar
// `<name>.json` ({"speech": [{"start_ms", "end_ms", "text", "interrupts_agent"}]}, the spans being
// the audible part of each utterance, relative to the WAV start).
//
// The pauses assume the agent starts answering about 0.6 s after the user stops (VAD_SILENCE_MS
// 500 + processing) and that a reply lasts a few seconds (the offline responder's 1-3 sentences):
// the interrupting utterance starts `gap_ms` after the previous one, well inside that reply, and
// the others leave room for the reply to finish.
// Stateless functions (flite serialises itself): any thread.

#include "audio/frame.hpp"

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>
#include <tl/expected.hpp>

namespace pv::cascade {

struct ScriptedUtterance {
  std::string text;
  int gap_ms = 0; // from the audible end of the previous utterance (or the script start)
  bool interrupts_agent = false;
};

struct UserScriptParams {
  std::vector<ScriptedUtterance> utterances; // empty = default_user_script()
  std::string voice = "kal16";               // flite voice: kal16 | slt
  int tail_ms = 500;                         // silence after the last utterance
};

// Four utterances; the third interrupts the agent's answer to the second.
std::vector<ScriptedUtterance> default_user_script();

struct ScriptSpan {
  int64_t start_ms = 0;
  int64_t end_ms = 0;
  std::string text;
  bool interrupts_agent = false;
};

struct UserScript {
  audio::PcmBuffer pcm; // 16 kHz mono
  std::vector<ScriptSpan> spans;
};

tl::expected<UserScript, std::string> synthesize_user_script(const UserScriptParams& params);

// The sidecar labels the mock room reads.
nlohmann::json user_script_labels(const UserScript& script);

// Writes `wav_path` and its sidecar (same name, .json).
tl::expected<void, std::string> write_user_script(const UserScript& script,
                                                  const std::filesystem::path& wav_path);

} // namespace pv::cascade
