#include "cascade/cascade_user_script.hpp"

#include "audio/wav.hpp"
#include "cascade/tts/flite_tts.hpp"

#include <algorithm>
#include <cmath>
#include <fstream>

#include <nlohmann/json.hpp>

namespace pv::cascade {

namespace {

// The audible part of a clip: 10 ms windows within 20 dB of the loudest one (flite pads its
// output with near-silence, which must not count as speech in the labels).
std::pair<std::size_t, std::size_t> audible_span(const std::vector<int16_t>& v, int rate) {
  const std::size_t win = static_cast<std::size_t>(rate / 100);
  auto rms = [&](std::size_t at) {
    double sum = 0;
    for (std::size_t i = at; i < at + win; ++i) {
      sum += static_cast<double>(v[i]) * v[i];
    }
    return std::sqrt(sum / static_cast<double>(win));
  };
  double peak = 0;
  for (std::size_t i = 0; i + win <= v.size(); i += win) {
    peak = std::max(peak, rms(i));
  }
  std::size_t first = v.size();
  std::size_t last = 0;
  for (std::size_t i = 0; i + win <= v.size(); i += win) {
    if (peak > 0 && rms(i) >= peak / 10.0) {
      first = std::min(first, i);
      last = i + win;
    }
  }
  return {first, last};
}

} // namespace

std::vector<ScriptedUtterance> default_user_script() {
  return {
      {"hello everyone good morning", 500, false},
      // The agent answers the first utterance; wait for it to finish.
      {"what is the weather like today", 6500, false},
      // Starts ~1.8 s into the agent's answer to the question: a barge-in.
      {"let us talk about football tonight", 2400, true},
      {"thank you very much for coming", 9000, false},
  };
}

tl::expected<UserScript, std::string> synthesize_user_script(const UserScriptParams& params) {
  FliteParams flite_params;
  flite_params.voice = params.voice;
  auto flite = FliteTts::create(flite_params);
  if (!flite) {
    return tl::make_unexpected("flite: " + flite.error().message);
  }
  const auto utterances = params.utterances.empty() ? default_user_script() : params.utterances;
  UserScript script;
  script.pcm.sample_rate = FliteTts::kSampleRateHz;
  const int rate = FliteTts::kSampleRateHz;
  auto& out = script.pcm.samples;
  std::size_t previous_end = 0; // audible end of the previous utterance, in samples
  for (const auto& u : utterances) {
    std::vector<int16_t> speech;
    TtsRequest request;
    request.text = u.text;
    auto result = (*flite)->synthesize(request, [&](const TtsChunk& chunk) {
      speech.insert(speech.end(), chunk.samples.begin(), chunk.samples.end());
    });
    if (!result) {
      return tl::make_unexpected("flite could not say '" + u.text + "': " + result.error().message);
    }
    const auto [first, last] = audible_span(speech, rate);
    if (first >= last) {
      return tl::make_unexpected("flite produced silence for '" + u.text + "'");
    }
    // Place the audible start `gap_ms` after the previous audible end.
    const std::size_t start =
        previous_end + static_cast<std::size_t>(std::max(0, u.gap_ms)) * rate / 1000;
    const std::size_t clip_start = start >= first ? start - first : 0;
    if (out.size() < clip_start + speech.size()) {
      out.resize(clip_start + speech.size(), 0);
    }
    for (std::size_t i = 0; i < speech.size(); ++i) {
      out[clip_start + i] = speech[i];
    }
    ScriptSpan span;
    span.start_ms = static_cast<int64_t>((clip_start + first) * 1000 / rate);
    span.end_ms = static_cast<int64_t>((clip_start + last) * 1000 / rate);
    span.text = u.text;
    span.interrupts_agent = u.interrupts_agent;
    script.spans.push_back(std::move(span));
    previous_end = clip_start + last;
  }
  out.resize(
      std::max(out.size(),
               previous_end + static_cast<std::size_t>(std::max(0, params.tail_ms)) * rate / 1000),
      0);
  return script;
}

nlohmann::json user_script_labels(const UserScript& script) {
  nlohmann::json speech = nlohmann::json::array();
  for (const auto& s : script.spans) {
    speech.push_back({{"start_ms", s.start_ms},
                      {"end_ms", s.end_ms},
                      {"text", s.text},
                      {"interrupts_agent", s.interrupts_agent}});
  }
  return {{"speech", speech}, {"room_events", nlohmann::json::array()}};
}

tl::expected<void, std::string> write_user_script(const UserScript& script,
                                                  const std::filesystem::path& wav_path) {
  std::error_code ec;
  if (wav_path.has_parent_path()) {
    std::filesystem::create_directories(wav_path.parent_path(), ec);
    if (ec) {
      return tl::make_unexpected("cannot create " + wav_path.parent_path().string() + ": " +
                                 ec.message());
    }
  }
  if (auto written = audio::write_wav(wav_path, script.pcm); !written) {
    return tl::make_unexpected(written.error().message);
  }
  auto labels_path = wav_path;
  labels_path.replace_extension(".json");
  const auto tmp = labels_path.string() + ".tmp";
  {
    std::ofstream labels(tmp, std::ios::trunc);
    labels << user_script_labels(script).dump(2) << "\n";
    if (!labels) {
      return tl::make_unexpected("cannot write " + labels_path.string());
    }
  }
  std::filesystem::rename(tmp, labels_path, ec);
  if (ec) {
    return tl::make_unexpected("cannot write " + labels_path.string() + ": " + ec.message());
  }
  return {};
}

} // namespace pv::cascade
