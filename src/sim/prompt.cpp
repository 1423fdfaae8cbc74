#include "sim/prompt.hpp"

#include "audio/wav.hpp"

#include <algorithm>
#include <filesystem>
#include <system_error>

namespace pv::sim {

namespace {

constexpr std::string_view kSystemTag = "<system>";
constexpr int kFrameMs = 80; // Mimi frame: 1920 samples at 24 kHz

std::string_view strip(std::string_view text) {
  const auto is_space = [](char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
  };
  while (!text.empty() && is_space(text.front())) {
    text.remove_prefix(1);
  }
  while (!text.empty() && is_space(text.back())) {
    text.remove_suffix(1);
  }
  return text;
}

bool ends_with(std::string_view text, std::string_view suffix) {
  return text.size() >= suffix.size() && text.substr(text.size() - suffix.size()) == suffix;
}

} // namespace

const std::vector<std::string>& shipped_voices() {
  static const std::vector<std::string> voices = {
      "NATF0.pt", "NATF1.pt", "NATF2.pt", "NATF3.pt", "NATM0.pt", "NATM1.pt",
      "NATM2.pt", "NATM3.pt", "VARF0.pt", "VARF1.pt", "VARF2.pt", "VARF3.pt",
      "VARF4.pt", "VARM0.pt", "VARM1.pt", "VARM2.pt", "VARM3.pt", "VARM4.pt"};
  return voices;
}

std::string wrap_with_system_tags(std::string_view text) {
  const std::string_view cleaned = strip(text);
  if (cleaned.starts_with(kSystemTag) && ends_with(cleaned, kSystemTag)) {
    return std::string(cleaned);
  }
  std::string wrapped;
  wrapped.reserve(cleaned.size() + 2 * kSystemTag.size() + 2);
  wrapped.append(kSystemTag).append(" ").append(cleaned).append(" ").append(kSystemTag);
  return wrapped;
}

int estimate_text_tokens(std::string_view text_prompt) {
  const std::size_t bytes = wrap_with_system_tags(text_prompt).size();
  return std::max(1, static_cast<int>((bytes + 3) / 4));
}

const char* to_string(ChatRejectKind kind) {
  switch (kind) {
  case ChatRejectKind::missing_voice_prompt:
    return "missing_voice_prompt";
  case ChatRejectKind::invalid_voice_name:
    return "invalid_voice_name";
  case ChatRejectKind::unknown_voice:
    return "unknown_voice";
  case ChatRejectKind::missing_text_prompt:
    return "missing_text_prompt";
  case ChatRejectKind::seed_present:
    return "seed_present";
  case ChatRejectKind::corrupt_voice:
    return "corrupt_voice";
  }
  return "unknown";
}

std::optional<int> voice_prompt_frames(std::string_view name, const VoiceCatalog& voices) {
  if (name.empty() || name.find('/') != std::string_view::npos || name == "." || name == "..") {
    return std::nullopt;
  }
  const auto explicit_frames = [&]() -> std::optional<int> {
    if (auto it = voices.frames_by_name.find(std::string(name));
        it != voices.frames_by_name.end()) {
      return it->second;
    }
    return std::nullopt;
  };
  const auto& shipped = shipped_voices();
  if (std::find(shipped.begin(), shipped.end(), name) != shipped.end()) {
    return explicit_frames().value_or(voices.default_frames);
  }
  if (voices.voice_dir.empty()) {
    return std::nullopt;
  }
  const std::filesystem::path path = std::filesystem::path(voices.voice_dir) / std::string(name);
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) {
    return std::nullopt;
  }
  if (auto frames = explicit_frames()) {
    return frames;
  }
  if (ends_with(name, ".wav")) {
    if (auto clip = audio::read_wav(path); clip && clip->sample_rate > 0) {
      const int64_t ms = clip->duration_ms();
      return std::max<int>(1, static_cast<int>((ms + kFrameMs - 1) / kFrameMs));
    }
  }
  return voices.default_frames;
}

bool voice_prompt_corrupt(std::string_view name, const VoiceCatalog& voices) {
  if (voices.voice_dir.empty() || !voice_prompt_frames(name, voices)) {
    return false;
  }
  std::error_code ec;
  const auto path = std::filesystem::path(voices.voice_dir) / std::string(name);
  return std::filesystem::is_regular_file(path, ec) && std::filesystem::file_size(path, ec) == 0 &&
         !ec;
}

tl::expected<ChatRequest, ChatRequestError> parse_chat_request(const QueryParams& query,
                                                               const VoiceCatalog& voices) {
  auto fail = [](ChatRejectKind kind, std::string message, SharedPromptWrite write = {},
                 std::string voice = {}) {
    return tl::unexpected(ChatRequestError{kind, std::move(message), write, std::move(voice)});
  };
  ChatRequest request;
  auto voice = query.get("voice_prompt");
  if (!voice) {
    return fail(ChatRejectKind::missing_voice_prompt, "KeyError: 'voice_prompt'");
  }
  if (voice->find('/') != std::string::npos) {
    return fail(ChatRejectKind::invalid_voice_name,
                "ValueError: Invalid voice prompt filename: '" + *voice + "'");
  }
  auto frames = voice_prompt_frames(*voice, voices);
  if (!frames) {
    return fail(ChatRejectKind::unknown_voice,
                "FileNotFoundError: Requested voice prompt '" + *voice + "' not found");
  }
  request.voice_prompt = std::move(*voice);
  request.voice_frames = *frames;
  request.write.voice_frames = *frames;
  auto text = query.get("text_prompt");
  if (!text) {
    return fail(ChatRejectKind::missing_text_prompt, "KeyError: 'text_prompt'", request.write,
                request.voice_prompt);
  }
  request.text_tokens = text->empty() ? -1 : estimate_text_tokens(*text);
  request.text_prompt = std::move(*text);
  request.write.text_tokens = request.text_tokens;
  if (query.contains("seed")) {
    return fail(ChatRejectKind::seed_present, "KeyError: 'seed'", request.write,
                request.voice_prompt);
  }
  return request;
}

PromptPlan plan_prompt_phase(int voice_frames, int text_tokens) {
  PromptPlan plan;
  plan.voice_steps = std::max(0, voice_frames);
  plan.empty_text = text_tokens < 0;
  plan.text_steps = std::max(0, text_tokens);
  return plan;
}

} // namespace pv::sim
