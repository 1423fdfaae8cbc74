#include "personaplex/protocol.hpp"

#include <algorithm>

namespace pv::personaplex {

ParsedMessage parse_message(std::span<const uint8_t> message, bool binary) {
  ParsedMessage parsed;
  if (message.empty()) {
    return parsed;
  }
  parsed.kind = message[0];
  parsed.payload = message.subspan(1);
  if (!binary) {
    return parsed;
  }
  switch (static_cast<MessageKind>(parsed.kind)) {
  case MessageKind::handshake:
    parsed.type = ParsedMessage::Type::handshake;
    break;
  case MessageKind::audio:
    parsed.type = ParsedMessage::Type::audio;
    break;
  case MessageKind::text:
    parsed.type = ParsedMessage::Type::text;
    break;
  default:
    break;
  }
  return parsed;
}

std::string sanitize_utf8(std::span<const uint8_t> bytes) {
  static constexpr char kReplacement[] = "\xEF\xBF\xBD";
  std::string out;
  out.reserve(bytes.size());
  std::size_t i = 0;
  while (i < bytes.size()) {
    const uint8_t lead = bytes[i];
    if (lead < 0x80) {
      out.push_back(static_cast<char>(lead));
      ++i;
      continue;
    }
    std::size_t length = 0;
    uint32_t code = 0;
    uint32_t minimum = 0;
    if ((lead & 0xE0) == 0xC0) {
      length = 2;
      code = lead & 0x1F;
      minimum = 0x80;
    } else if ((lead & 0xF0) == 0xE0) {
      length = 3;
      code = lead & 0x0F;
      minimum = 0x800;
    } else if ((lead & 0xF8) == 0xF0) {
      length = 4;
      code = lead & 0x07;
      minimum = 0x10000;
    }
    bool valid = length != 0 && i + length <= bytes.size();
    for (std::size_t k = 1; valid && k < length; ++k) {
      const uint8_t next = bytes[i + k];
      if ((next & 0xC0) != 0x80) {
        valid = false;
      } else {
        code = (code << 6) | (next & 0x3F);
      }
    }
    valid = valid && code >= minimum && code <= 0x10FFFF && !(code >= 0xD800 && code <= 0xDFFF);
    if (valid) {
      out.append(reinterpret_cast<const char*>(bytes.data() + i), length);
      i += length;
    } else {
      out += kReplacement;
      ++i; // resynchronise on the next byte
    }
  }
  return out;
}

void make_audio_message(std::span<const uint8_t> ogg_page, std::vector<uint8_t>& out) {
  out.clear();
  // Room for any 20 ms page at once, so that a pooled buffer never has to grow again.
  out.reserve(std::max<std::size_t>(ogg_page.size() + 1, 1024));
  out.push_back(static_cast<uint8_t>(MessageKind::audio));
  out.insert(out.end(), ogg_page.begin(), ogg_page.end());
}

} // namespace pv::personaplex
