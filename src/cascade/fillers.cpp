#include "cascade/fillers.hpp"

#include "audio/wav.hpp"

#include <cctype>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

namespace pv::cascade {

namespace {

namespace fs = std::filesystem;

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return out;
}

double rms_of(const std::vector<int16_t>& samples) {
  if (samples.empty()) {
    return 0.0;
  }
  double sum = 0.0;
  for (const int16_t s : samples) {
    sum += static_cast<double>(s) * s;
  }
  return std::sqrt(sum / static_cast<double>(samples.size()));
}

// A relative path without ".." components: stays inside the manifest's directory.
bool is_contained(const fs::path& relative) {
  if (relative.empty() || relative.is_absolute() || relative.has_root_name()) {
    return false;
  }
  for (const auto& part : relative) {
    if (part == "..") {
      return false;
    }
  }
  return true;
}

} // namespace

tl::expected<std::vector<FillerClip>, FillerError>
load_filler_manifest(const fs::path& manifest_path) {
  std::ifstream in(manifest_path, std::ios::binary);
  if (!in) {
    return tl::unexpected(FillerError{FillerErrorKind::missing_manifest,
                                      "cannot open filler manifest " + manifest_path.string()});
  }
  std::stringstream text;
  text << in.rdbuf();
  const auto json = nlohmann::json::parse(text.str(), nullptr, /*allow_exceptions=*/false);
  auto bad_manifest = [&](const std::string& what) {
    return tl::unexpected(
        FillerError{FillerErrorKind::bad_manifest, manifest_path.string() + ": " + what});
  };
  if (json.is_discarded() || !json.is_object() || !json.contains("clips") ||
      !json["clips"].is_array()) {
    return bad_manifest("expected an object with a \"clips\" array");
  }
  const fs::path dir = manifest_path.parent_path();
  std::vector<FillerClip> clips;
  std::set<std::string> ids;
  for (const auto& entry : json["clips"]) {
    if (!entry.is_object()) {
      return bad_manifest("every clip must be an object");
    }
    for (const char* field : {"id", "path", "text", "use_case"}) {
      if (!entry.contains(field) || !entry[field].is_string() ||
          entry[field].get<std::string>().empty()) {
        return bad_manifest(std::string("a clip lacks the string field \"") + field + "\"");
      }
    }
    if (!entry.contains("sample_rate_hz") || !entry["sample_rate_hz"].is_number_integer() ||
        !entry.contains("duration_ms") || !entry["duration_ms"].is_number_integer()) {
      return bad_manifest("a clip lacks integer sample_rate_hz/duration_ms");
    }
    FillerClip clip;
    clip.id = lower(entry["id"].get<std::string>());
    clip.text = entry["text"].get<std::string>();
    clip.use_case = lower(entry["use_case"].get<std::string>());
    if (!ids.insert(clip.id).second) {
      return bad_manifest("duplicate clip id '" + clip.id + "'");
    }
    const fs::path relative(entry["path"].get<std::string>());
    if (!is_contained(relative)) {
      return bad_manifest("clip '" + clip.id + "' path must be relative and inside " +
                          dir.string());
    }
    clip.path = dir / relative;
    auto pcm = audio::read_wav(clip.path);
    auto bad_clip = [&](const std::string& what) {
      return tl::unexpected(
          FillerError{FillerErrorKind::bad_clip, clip.path.string() + ": " + what});
    };
    if (!pcm) {
      return bad_clip(pcm.error().message);
    }
    const int claimed_rate = entry["sample_rate_hz"].get<int>();
    const int64_t claimed_ms = entry["duration_ms"].get<int64_t>();
    if (pcm->sample_rate != claimed_rate) {
      return bad_clip("sample rate " + std::to_string(pcm->sample_rate) + " Hz, manifest says " +
                      std::to_string(claimed_rate));
    }
    if (std::llabs(pcm->duration_ms() - claimed_ms) > 20) {
      return bad_clip("duration " + std::to_string(pcm->duration_ms()) + " ms, manifest says " +
                      std::to_string(claimed_ms));
    }
    if (rms_of(pcm->samples) < 100.0) {
      return bad_clip("the clip is silent");
    }
    clip.pcm = std::move(*pcm);
    clips.push_back(std::move(clip));
  }
  if (clips.empty()) {
    return bad_manifest("no clips");
  }
  return clips;
}

tl::expected<FillerBank, FillerError> FillerBank::load(const fs::path& fillers_dir,
                                                       std::string_view persona_id) {
  std::string persona = lower(persona_id);
  if (persona.empty() || !is_contained(fs::path(persona))) {
    persona = "default";
  }
  std::error_code ec;
  if (!fs::is_regular_file(fillers_dir / persona / "manifest.json", ec)) {
    persona = "default";
  }
  auto clips = load_filler_manifest(fillers_dir / persona / "manifest.json");
  if (!clips) {
    return tl::unexpected(clips.error());
  }
  return FillerBank(std::move(persona), std::move(*clips));
}

const FillerClip* FillerBank::choose(std::string_view use_case, uint64_t turn_index) const {
  if (clips_.empty()) {
    return nullptr;
  }
  const std::string wanted = lower(use_case);
  std::vector<const FillerClip*> matching;
  for (const auto& clip : clips_) {
    if (!wanted.empty() && clip.use_case == wanted) {
      matching.push_back(&clip);
    }
  }
  if (matching.empty()) {
    for (const auto& clip : clips_) {
      matching.push_back(&clip);
    }
  }
  return matching[turn_index % matching.size()];
}

} // namespace pv::cascade
