#pragma once
// Short filler clips ("Hmm.", "Right.", "Good question.") played while the reply is prepared.
//
// Layout: <fillers_dir>/<persona>/manifest.json
//   { "clips": [ { "id": "hmm", "path": "hmm.wav", "text": "Hmm.", "use_case": "thinking",
//                  "sample_rate_hz": 48000, "duration_ms": 420 }, ... ] }
// Every clip is validated when the bank loads: the path stays inside the persona's directory, the
// WAV parses (audio::read_wav), its sample rate and duration (±20 ms) match the manifest, and it
// is not silent (RMS >= 100). A bad manifest or clip fails the load with a message naming it.
// Persona ids are lower-cased; a persona without a directory falls back to "default".
// Immutable after load: thread-safe. load() reads files: call it at start-up, not per turn.

#include "audio/frame.hpp"

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include <tl/expected.hpp>

namespace pv::cascade {

struct FillerClip {
  std::string id;
  std::filesystem::path path;
  std::string text;
  std::string use_case;
  audio::PcmBuffer pcm;
};

enum class FillerErrorKind { missing_manifest, bad_manifest, bad_clip };

struct FillerError {
  FillerErrorKind kind;
  std::string message;
};

// Loads and validates one manifest (clip paths are relative to its directory).
tl::expected<std::vector<FillerClip>, FillerError>
load_filler_manifest(const std::filesystem::path& manifest_path);

class FillerBank {
public:
  // Loads <fillers_dir>/<persona>/manifest.json, or <fillers_dir>/default/manifest.json when the
  // persona has no directory.
  static tl::expected<FillerBank, FillerError> load(const std::filesystem::path& fillers_dir,
                                                    std::string_view persona_id);

  // The persona whose clips were loaded ("default" after a fallback).
  const std::string& persona() const { return persona_; }
  const std::vector<FillerClip>& clips() const { return clips_; }

  // A clip for `use_case` (any clip when empty or when none has that use case); rotates through
  // the candidates with `turn_index` so consecutive turns do not repeat. nullptr if no clips.
  const FillerClip* choose(std::string_view use_case, uint64_t turn_index) const;

private:
  FillerBank(std::string persona, std::vector<FillerClip> clips)
      : persona_(std::move(persona)), clips_(std::move(clips)) {}
  std::string persona_;
  std::vector<FillerClip> clips_;
};

} // namespace pv::cascade
