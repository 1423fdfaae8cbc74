#pragma once
// PersonaPlex wire messages (shared/docs/personaplex-protocol.md §2): every WebSocket message is
// binary, `[kind: u8][payload...]`.
//
//   0x00 handshake  S->C once, after the server's prompt phase. Any payload length is accepted
//                   (PersonaPlex sends none, Kyutai's Rust server 8 bytes).
//   0x01 audio      both ways: bytes of an Ogg Opus stream (one page per message from the server).
//   0x02 text       S->C: UTF-8 of one SentencePiece token ("▁" already replaced by a space).
//   0x03..0x06      control, metadata, error, ping: defined, never sent by PersonaPlex: ignored.
// Unknown kinds and empty messages are ignored, never an error: junk must not end a session.
//
// Pure functions; any thread.

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace pv::personaplex {

enum class MessageKind : uint8_t {
  handshake = 0x00,
  audio = 0x01,
  text = 0x02,
  control = 0x03,
  metadata = 0x04,
  error = 0x05,
  ping = 0x06,
};

struct ParsedMessage {
  enum class Type {
    handshake, // payload: whatever followed the kind byte (ignored by the client)
    audio,     // payload: Ogg bytes
    text,      // payload: the token's bytes (not necessarily valid UTF-8: see sanitize_utf8)
    ignored,   // empty message, a text (non-binary) frame, kinds 0x03..0x06 or unknown
  };
  Type type = Type::ignored;
  uint8_t kind = 0; // the kind byte (0 for an empty message)
  std::span<const uint8_t> payload;
};

// Classifies one received message. `binary` is the WebSocket frame type: the server only sends
// binary frames; a text frame is ignored like an unknown kind.
ParsedMessage parse_message(std::span<const uint8_t> message, bool binary = true);

// The bytes as UTF-8 with every invalid sequence (bad lead byte, truncated or overlong sequence,
// surrogate, > U+10FFFF) replaced by U+FFFD, so that a bad token can never poison a transcript or
// a JSON log line.
std::string sanitize_utf8(std::span<const uint8_t> bytes);

// `out` = 0x01 + page (cleared first; no allocation once `out` has capacity).
void make_audio_message(std::span<const uint8_t> ogg_page, std::vector<uint8_t>& out);

} // namespace pv::personaplex
