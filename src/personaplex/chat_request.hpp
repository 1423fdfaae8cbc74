#pragma once
// Building the /api/chat upgrade request (protocol §1.1, §1.2, Appendix A):
//
//  * endpoint: PERSONAPLEX_SERVER_URL with http -> ws, https -> wss (ws/wss kept), an optional
//    path prefix kept (a proxy), trailing slashes dropped, "/api/chat" appended (unless already
//    there). Any other scheme, a missing host, user info, a query or a fragment is a config error
//    naming the variable.
//  * voice_prompt: one of the 18 shipped voices (NATF0-3, NATM0-3, VARF0-4, VARM0-4, ".pt"); a
//    bare name gets ".pt"; another file name is allowed with a warning (the server must have it
//    in its voice directory); '/', '\', ".." and control characters are refused (the server joins
//    the value to its directory unchecked).
//  * text_prompt: never empty; percent-encoded (RFC 3986: a literal '+' is %2B, a space %20).
//  * seed: only when PERSONAPLEX_SEED is set (the reference server drops such connections).
//  * the request line ("GET <target> HTTP/1.1") must stay within aiohttp's 8190 bytes: the text
//    prompt gets whatever the rest leaves, and the PromptBuilder trims the *added context* (what
//    the agent said so far) to fit, never the persona.
//  * X-Session-Key: "<PODIUM_OUTPOST_UUID or mock>:<AGENT_ID>" (sticky routing in a pool).
//
// Pure functions (the builders are called on whichever thread opens a session); thread-safe.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <tl/expected.hpp>

namespace pv::personaplex {

inline constexpr std::string_view kChatPath = "/api/chat";
// aiohttp's max_line_size: a longer request line is answered with 400.
inline constexpr std::size_t kMaxRequestLineBytes = 8190;
// Kept free below the limit (a proxy may add nothing to the request line, but be safe).
inline constexpr std::size_t kRequestLineMargin = 32;
// The web UI's default prompt; used when nothing else is configured (e.g. the CLI).
inline constexpr std::string_view kDefaultTextPrompt =
    "You are a wise and friendly teacher. Answer questions or provide advice in a clear and "
    "engaging way.";

// A problem with a setting; `variable` names it (e.g. PERSONAPLEX_SERVER_URL).
struct SettingError {
  std::string variable;
  std::string message;
};

// "ws(s)://host[:port][/prefix]/api/chat" from PERSONAPLEX_SERVER_URL.
tl::expected<std::string, SettingError> chat_endpoint(std::string_view server_url);

// "NATF0.pt" ... "VARM4.pt".
const std::vector<std::string>& shipped_voices();

struct VoicePrompt {
  std::string file_name; // what goes into voice_prompt=, e.g. "NATF2.pt"
  bool shipped = false;  // one of the 18 shipped voices
  std::string warning;   // non-empty for an accepted but unusual name
};

tl::expected<VoicePrompt, SettingError> resolve_voice_prompt(std::string_view configured);

struct ChatQuery {
  std::string text_prompt;
  std::string voice_prompt; // a resolved file name
  std::optional<int64_t> seed;
};

// "<path>?text_prompt=...&voice_prompt=...[&seed=N]".
std::string chat_target(std::string_view path, const ChatQuery& query);

// Bytes of "GET <target> HTTP/1.1" (the line aiohttp limits; CRLF not counted).
std::size_t request_line_bytes(std::string_view target);

// The most percent-encoded bytes text_prompt may take at this endpoint with this voice and seed.
// 0 when even an empty prompt would not fit.
std::size_t text_prompt_budget(std::string_view endpoint, std::string_view voice_file,
                               std::optional<int64_t> seed);

// "<outpost or mock>:<agent id>".
std::string session_key(std::string_view outpost_uuid, std::string_view agent_id);

// What the session so far can add to a new session's prompt.
struct PromptContext {
  std::vector<std::string> agent_said; // what the agent said, oldest first (one entry per reply)
};

// Returns the text prompt: the persona (never trimmed) plus as much context as fits in
// `max_encoded_bytes` (percent-encoded size).
using PromptBuilder =
    std::function<std::string(std::size_t max_encoded_bytes, const PromptContext& context)>;

// For a fixed persona text (PERSONAPLEX_TEXT_PROMPT, the CLI's --prompt): the text, then
// "\n\nEarlier in this conversation you said:" and the most recent lines that fit (whole lines,
// oldest first).
PromptBuilder fixed_prompt_builder(std::string persona_text);

struct ChatRequestParams {
  std::string endpoint;   // from chat_endpoint()
  std::string voice_file; // from resolve_voice_prompt()
  std::optional<int64_t> seed;
  PromptBuilder prompt;                                    // null = fixed_prompt_builder(default)
  std::string prompt_variable = "PERSONAPLEX_TEXT_PROMPT"; // named in errors
};

struct ChatRequest {
  std::string url;                    // endpoint + query
  std::string text_prompt;            // as built (not encoded)
  std::size_t request_line_bytes = 0; // <= kMaxRequestLineBytes
  std::size_t prompt_budget = 0;      // encoded bytes the prompt was allowed
  bool context_dropped = false;       // the builder overshot with context; retried without
};

// Calls the builder with the budget; if it overshoots, calls it again without context; if the
// persona alone still does not fit, or the prompt is blank, it is an error naming
// params.prompt_variable.
tl::expected<ChatRequest, SettingError> build_chat_request(const ChatRequestParams& params,
                                                           const PromptContext& context);

} // namespace pv::personaplex
