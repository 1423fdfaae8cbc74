#pragma once
// The simulated model's voice: every sentence it can say, synthesised once with flite (16 kHz),
// resampled to 24 kHz (soxr), padded to whole 80 ms frames and encoded the way the real server
// encodes its output (libopus, 24 kHz mono, VOIP, default complexity, one 80 ms packet per
// frame), plus the text pieces it "thinks" while saying it. Sessions only copy these packets, so
// a simulated session costs no Opus encoding at all (cheap under load).
//
// Text pieces imitate the real server's 0x02 messages (SentencePiece pieces with "▁" shown as a
// space): each word starts with a space, punctuation is a piece of its own, and words longer than
// 8 characters are cut into pieces of at most 6 characters. Concatenating the pieces gives
// " " + the sentence with its whitespace collapsed to single spaces. Each piece is timed at its
// approximate position in the audio: the voiced span of the clip (first to last sample above
// -40 dBFS) is shared among the words in proportion to their length; a punctuation piece gets
// the end of the word before it.
//
// Silence: what a fresh encoder makes of 80 ms of digital silence: a 104-byte first packet, then
// one 102-byte packet repeated for ever (checked: the encoder output is constant from the second
// frame on). A silent session therefore sends exactly the bytes a live encoder would.
//
// Clips are cached process-wide by (voice, text) and shared read-only (immutable after
// creation): SpeechBank::create is thread-safe and cheap for sentences already synthesised.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <tl/expected.hpp>

namespace pv::sim {

inline constexpr int kModelRateHz = 24000;
inline constexpr int kModelFrameSamples = 1920; // 80 ms at 24 kHz

struct TextPiece {
  std::string text;         // e.g. " Hello" or ","
  int64_t start_sample = 0; // position in the clip (24 kHz) where it is "said"
};

struct SpeechClip {
  std::string text;                          // the sentence, whitespace collapsed
  std::vector<std::vector<uint8_t>> packets; // one 80 ms Opus packet per model step
  std::vector<TextPiece> pieces;
  int64_t speech_start_sample = 0; // voiced span inside the clip
  int64_t speech_end_sample = 0;
  int64_t samples() const { return static_cast<int64_t>(packets.size()) * kModelFrameSamples; }
};

struct SilencePackets {
  std::vector<uint8_t> first;  // a fresh encoder's first packet for 1920 zeros
  std::vector<uint8_t> steady; // every later packet for 1920 zeros
};

// SentencePiece-like pieces of `text` (see the header comment). Empty for blank text.
std::vector<std::string> segment_text(std::string_view text);

struct SpeechBankParams {
  std::vector<std::string> replies;
  std::string backchannel; // empty = none
  std::string tts_voice = "kal16";
};

class SpeechBank {
public:
  // Synthesises and encodes whatever is not cached yet (flite kal16: a few ms per sentence;
  // encoding ~0.35 ms per 80 ms). Errors: empty reply list, unknown voice, a sentence flite
  // cannot speak, codec failures.
  static tl::expected<std::shared_ptr<const SpeechBank>, std::string>
  create(const SpeechBankParams& params);

  std::size_t reply_count() const { return replies_.size(); }
  const SpeechClip& reply(std::size_t index) const { return *replies_[index % replies_.size()]; }
  const SpeechClip* backchannel() const { return backchannel_.get(); }
  const SilencePackets& silence() const { return *silence_; }

private:
  SpeechBank() = default;
  std::vector<std::shared_ptr<const SpeechClip>> replies_;
  std::shared_ptr<const SpeechClip> backchannel_;
  std::shared_ptr<const SilencePackets> silence_;
};

} // namespace pv::sim
