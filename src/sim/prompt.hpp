#pragma once
// The /api/chat parameters and the prompt phase of the real PersonaPlex server (protocol document
// §1.2, §1.4, §2.1 step 4, §2.3).
//
// Validation follows the order of the real handler, which runs after the 101 has been sent:
// voice_prompt missing -> not a bare file name -> file not found -> text_prompt missing -> `seed`
// present. Each failure means "close TCP without a Close frame". An empty text_prompt passes here
// and fails later, inside the prompt phase (PromptPlan::crash_after_probes).
//
// Voices: the 18 shipped names (NATF0-3, NATM0-3, VARF0-4, VARM0-4 + ".pt") are always known;
// with a voice directory, any regular file directly in it is known too. Voice-prompt length in
// model frames (80 ms): an explicit per-name figure, else for a ".wav" file its duration
// (rounded up to whole frames, as the real server Mimi-encodes audio prompts), else the default
// (50 frames, ~4 s, the reported length of the shipped .pt prompts).
//
// Text-prompt length: the real server SentencePiece-encodes wrap_with_system_tags(text) (32k
// vocabulary). There is no tokenizer here, so it is estimated as ceil(UTF-8 bytes / 4) of the
// wrapped text (English averages ~4 bytes per piece); e.g. the web UI's default prompt (100
// characters) gives 30 steps.
//
// Stateless functions (the voice lookup reads the file system); callable from any thread.

#include "sim/query.hpp"

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <tl/expected.hpp>

namespace pv::sim {

inline constexpr int kPromptSilenceSteps = 6; // audio_silence_frame_cnt = int(0.5 * 12.5)

// "NATF0.pt" ... "VARM4.pt", in the web UI's order.
const std::vector<std::string>& shipped_voices();

// The real server's rule: strip; if the text does not both start and end with "<system>", it
// becomes "<system> " + text + " <system>".
std::string wrap_with_system_tags(std::string_view text);

// Estimated token count of wrap_with_system_tags(text_prompt) (see the header comment).
int estimate_text_tokens(std::string_view text_prompt);

struct VoiceCatalog {
  std::string voice_dir;                     // empty = only the shipped names
  int default_frames = 50;                   // voice-prompt steps when nothing else is known
  std::map<std::string, int> frames_by_name; // explicit per-voice step counts
};

enum class ChatRejectKind {
  missing_voice_prompt, // KeyError in the real server
  invalid_voice_name,   // contains a path separator (ValueError upstream)
  unknown_voice,        // FileNotFoundError
  missing_text_prompt,  // KeyError
  seed_present,         // the `seed` bug (protocol §1.2)
  corrupt_voice,        // the voice file cannot be loaded (see voice_prompt_corrupt)
};

const char* to_string(ChatRejectKind kind);

// What a request wrote into the real server's shared LM state before it was validated (the
// "last-connected prompts win" bug, §1.5): set even for some rejected requests.
struct SharedPromptWrite {
  std::optional<int> voice_frames;
  std::optional<int> text_tokens; // -1 = an empty text prompt (crashes the prompt phase)
};

struct ChatRequest {
  std::string voice_prompt;
  std::string text_prompt;
  int voice_frames = 0;
  int text_tokens = 0; // -1 when text_prompt is empty
  SharedPromptWrite write;
};

struct ChatRequestError {
  ChatRejectKind kind;
  std::string message;
  SharedPromptWrite write;
  std::string voice_prompt; // set when the voice was found (the real handler loads it next)
};

tl::expected<ChatRequest, ChatRequestError> parse_chat_request(const QueryParams& query,
                                                               const VoiceCatalog& voices);

// Voice-prompt steps for `name`, or nullopt if the voice is unknown.
std::optional<int> voice_prompt_frames(std::string_view name, const VoiceCatalog& voices);

// An empty (0-byte) file in the voice directory stands for a corrupt prompt: the real server
// fails to load it (TCP close after the 101), but records the name first, so the next request
// for the same voice skips the load and gets a handshake with the previous voice (Addendum 3).
bool voice_prompt_corrupt(std::string_view name, const VoiceCatalog& voices);

// The prompt phase: one is_alive probe before each LM step, plus the one before the handshake.
struct PromptPlan {
  int voice_steps = 0;
  int silence_steps = kPromptSilenceSteps; // before and after the text
  int text_steps = 0;
  bool empty_text = false; // the real server crashes after voice + first silence

  int lm_steps() const { return voice_steps + silence_steps + text_steps + silence_steps; }
  // Probes until the handshake (one per LM step + the final is_alive before sending 0x00).
  int probes() const { return lm_steps() + 1; }
  // With an empty text prompt: the connection is dropped after this many probes, else -1.
  int crash_after_probes() const { return empty_text ? voice_steps + silence_steps : -1; }
};

PromptPlan plan_prompt_phase(int voice_frames, int text_tokens);

} // namespace pv::sim
