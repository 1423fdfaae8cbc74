// Wire messages: classification by kind byte, junk tolerance, UTF-8 sanitising.

#include "personaplex/protocol.hpp"

#include <random>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace pv::personaplex {
namespace {

using Type = ParsedMessage::Type;

std::vector<uint8_t> bytes(std::initializer_list<int> values) {
  std::vector<uint8_t> out;
  for (int v : values) {
    out.push_back(static_cast<uint8_t>(v));
  }
  return out;
}

TEST(ParseMessage, KindByteDecidesAndPayloadFollows) {
  struct Case {
    std::vector<uint8_t> message;
    bool binary;
    Type type;
    std::size_t payload;
  };
  const std::vector<Case> cases = {
      {bytes({0x00}), true, Type::handshake, 0},                         // PersonaPlex: 1 byte
      {bytes({0x00, 0, 0, 0, 0, 0, 0, 0, 0}), true, Type::handshake, 8}, // Kyutai Rust: + 8
      {bytes({0x01, 'O', 'g', 'g', 'S'}), true, Type::audio, 4},
      {bytes({0x01}), true, Type::audio, 0},
      {bytes({0x02, ' ', 'h', 'i'}), true, Type::text, 3},
      {bytes({0x03, 0x01}), true, Type::ignored, 1},     // control
      {bytes({0x04, '{', '}'}), true, Type::ignored, 2}, // metadata
      {bytes({0x05, 'x'}), true, Type::ignored, 1},      // error
      {bytes({0x06}), true, Type::ignored, 0},           // ping
      {bytes({0x07, 1, 2}), true, Type::ignored, 2},     // unknown
      {bytes({0xff}), true, Type::ignored, 0},
      {{}, true, Type::ignored, 0},             // empty
      {bytes({0x00}), false, Type::ignored, 0}, // a text frame is never a handshake
      {bytes({0x01, 1}), false, Type::ignored, 1},
  };
  for (std::size_t i = 0; i < cases.size(); ++i) {
    const auto& c = cases[i];
    const ParsedMessage parsed = parse_message(c.message, c.binary);
    EXPECT_EQ(parsed.type, c.type) << "case " << i;
    EXPECT_EQ(parsed.payload.size(), c.payload) << "case " << i;
    if (!c.message.empty()) {
      EXPECT_EQ(parsed.kind, c.message[0]) << "case " << i;
      EXPECT_EQ(parsed.payload.data(), c.message.data() + 1) << "case " << i;
    }
  }
}

TEST(ParseMessage, RandomJunkNeverCrashesAndTextAlwaysBecomesValidUtf8) {
  std::mt19937 rng(7);
  std::uniform_int_distribution<int> byte(0, 255);
  std::uniform_int_distribution<int> length(0, 64);
  int texts = 0;
  for (int round = 0; round < 20000; ++round) {
    std::vector<uint8_t> message(static_cast<std::size_t>(length(rng)));
    for (auto& b : message) {
      b = static_cast<uint8_t>(byte(rng));
    }
    if (!message.empty() && round % 3 == 0) {
      message[0] = 0x02; // make a third of them text messages
    }
    const ParsedMessage parsed = parse_message(message);
    if (parsed.type == Type::text) {
      ++texts;
      const std::string text = sanitize_utf8(parsed.payload);
      // nlohmann::json refuses invalid UTF-8 when serialising: an independent check.
      EXPECT_NO_THROW((void)nlohmann::json(text).dump()) << "round " << round;
    }
  }
  EXPECT_GT(texts, 6000);
}

TEST(SanitizeUtf8, KeepsValidTextAndReplacesEachBadSequence) {
  auto run = [](std::initializer_list<int> in) {
    const auto b = bytes(in);
    return sanitize_utf8(b);
  };
  const std::string replacement = "\xEF\xBF\xBD";
  EXPECT_EQ(run({' ', 'h', 'i'}), " hi");
  EXPECT_EQ(run({0xC3, 0xA9}), "\xC3\xA9");                                    // é
  EXPECT_EQ(run({0xE2, 0x96, 0x81}), "\xE2\x96\x81");                          // ▁
  EXPECT_EQ(run({0xF0, 0x9F, 0x98, 0x80}), "\xF0\x9F\x98\x80");                // emoji
  EXPECT_EQ(run({0xFF}), replacement);                                         // never a lead byte
  EXPECT_EQ(run({0x80, 'a'}), replacement + "a");                              // stray continuation
  EXPECT_EQ(run({0xC3}), replacement);                                         // truncated
  EXPECT_EQ(run({0xC0, 0xAF}), replacement + replacement);                     // overlong '/'
  EXPECT_EQ(run({0xED, 0xA0, 0x80}), replacement + replacement + replacement); // surrogate
  EXPECT_EQ(run({0xF4, 0x90, 0x80, 0x80}),
            replacement + replacement + replacement + replacement); // > U+10FFFF
  EXPECT_EQ(run({'a', 0xE2, 0x96, 'b'}), "a" + replacement + replacement + "b");
}

TEST(MakeAudioMessage, PrefixesKindAndReusesTheBuffer) {
  const auto page = bytes({'O', 'g', 'g', 'S', 0, 2});
  std::vector<uint8_t> out;
  make_audio_message(page, out);
  EXPECT_EQ(out, bytes({0x01, 'O', 'g', 'g', 'S', 0, 2}));
  const auto* data = out.data();
  make_audio_message(bytes({'O', 'g', 'g', 'S'}), out);
  EXPECT_EQ(out, bytes({0x01, 'O', 'g', 'g', 'S'}));
  EXPECT_EQ(out.data(), data); // no reallocation once the capacity is there
}

} // namespace
} // namespace pv::personaplex
