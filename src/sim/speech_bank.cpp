#include "sim/speech_bank.hpp"

#include "audio/opus_codec.hpp"
#include "audio/resampler.hpp"
#include "cascade/tts/flite_tts.hpp"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <map>
#include <mutex>
#include <utility>

namespace pv::sim {

namespace {

constexpr std::size_t kLongWordChars = 8;  // longer words are cut into pieces...
constexpr std::size_t kWordPieceChars = 6; // ...of at most this many characters
constexpr int kVoicedThreshold = 328;      // -40 dBFS

bool is_word_char(unsigned char c) {
  return std::isalnum(c) != 0 || c == '\'' || c >= 0x80; // UTF-8 continuation bytes stay inside
}

std::vector<std::string> split_words(std::string_view text) {
  std::vector<std::string> words;
  std::size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && std::isspace(static_cast<unsigned char>(text[i])) != 0) {
      ++i;
    }
    std::size_t j = i;
    while (j < text.size() && std::isspace(static_cast<unsigned char>(text[j])) == 0) {
      ++j;
    }
    if (j > i) {
      words.emplace_back(text.substr(i, j - i));
    }
    i = j;
  }
  return words;
}

struct Piece {
  std::string text;
  std::size_t letters = 0; // 0 for punctuation
};

// Pieces of one whitespace-separated word; the first carries the word-start space.
void word_pieces(std::string_view word, std::vector<Piece>& out) {
  bool first = true;
  std::size_t i = 0;
  while (i < word.size()) {
    if (!is_word_char(static_cast<unsigned char>(word[i]))) {
      std::string piece = first ? " " : "";
      piece += word[i];
      out.push_back({std::move(piece), 0});
      first = false;
      ++i;
      continue;
    }
    std::size_t j = i;
    while (j < word.size() && is_word_char(static_cast<unsigned char>(word[j]))) {
      ++j;
    }
    const std::string_view core = word.substr(i, j - i);
    const std::size_t step = core.size() > kLongWordChars ? kWordPieceChars : core.size();
    std::size_t k = 0;
    while (k < core.size()) {
      std::size_t len = std::min(step, core.size() - k);
      // Never cut inside a UTF-8 sequence.
      while (k + len < core.size() && (static_cast<unsigned char>(core[k + len]) & 0xC0) == 0x80) {
        ++len;
      }
      std::string piece = first ? " " : "";
      piece += core.substr(k, len);
      out.push_back({std::move(piece), len});
      first = false;
      k += len;
    }
    i = j;
  }
}

std::vector<Piece> pieces_of(std::string_view text) {
  std::vector<Piece> pieces;
  for (const auto& word : split_words(text)) {
    word_pieces(word, pieces);
  }
  return pieces;
}

std::string collapse_spaces(std::string_view text) {
  std::string out;
  for (const auto& word : split_words(text)) {
    if (!out.empty()) {
      out.push_back(' ');
    }
    out += word;
  }
  return out;
}

tl::expected<std::vector<uint8_t>, std::string> encode_one(audio::OpusEncoder& encoder,
                                                           std::span<const int16_t> frame) {
  std::vector<uint8_t> packet;
  if (auto r = encoder.encode(frame, packet); !r) {
    return tl::unexpected("opus encode: " + r.error().message);
  }
  return packet;
}

tl::expected<audio::OpusEncoder, std::string> server_encoder() {
  // The real server: Encoder::new(24000, Mono, Voip) and nothing else (libopus defaults).
  audio::OpusEncoderParams params;
  params.sample_rate_hz = kModelRateHz;
  params.voip = true;
  params.complexity = -1;
  params.bitrate_bps = 0;
  auto encoder = audio::OpusEncoder::create(params);
  if (!encoder) {
    return tl::unexpected("opus encoder: " + encoder.error().message);
  }
  return std::move(*encoder);
}

tl::expected<std::shared_ptr<const SpeechClip>, std::string> build_clip(const std::string& text,
                                                                        const std::string& voice) {
  auto tts = cascade::FliteTts::create({voice, 100});
  if (!tts) {
    return tl::unexpected("flite: " + tts.error().message);
  }
  audio::PcmBuffer speech16{cascade::FliteTts::kSampleRateHz, {}};
  cascade::TtsRequest request;
  request.text = text;
  auto result = (*tts)->synthesize(request, [&](const cascade::TtsChunk& chunk) {
    speech16.samples.insert(speech16.samples.end(), chunk.samples.begin(), chunk.samples.end());
  });
  if (!result) {
    return tl::unexpected("flite cannot say \"" + text + "\": " + result.error().message);
  }
  auto speech24 = audio::resample_clip(speech16, kModelRateHz);
  if (!speech24) {
    return tl::unexpected("resample: " + speech24.error());
  }
  std::vector<int16_t>& pcm = speech24->samples;
  if (pcm.empty()) {
    return tl::unexpected("flite produced no audio for \"" + text + "\"");
  }
  auto clip = std::make_shared<SpeechClip>();
  clip->text = collapse_spaces(text);
  const auto voiced = [](int16_t s) {
    return std::abs(static_cast<int>(s)) >= kVoicedThreshold;
  };
  const auto first = std::find_if(pcm.begin(), pcm.end(), voiced);
  const auto last = std::find_if(pcm.rbegin(), pcm.rend(), voiced);
  clip->speech_start_sample = first == pcm.end() ? 0 : first - pcm.begin();
  clip->speech_end_sample =
      first == pcm.end() ? static_cast<int64_t>(pcm.size()) : pcm.rend() - last;
  const std::size_t frames = (pcm.size() + kModelFrameSamples - 1) / kModelFrameSamples;
  pcm.resize(frames * kModelFrameSamples, 0);

  auto encoder = server_encoder();
  if (!encoder) {
    return tl::unexpected(encoder.error());
  }
  clip->packets.reserve(frames);
  for (std::size_t f = 0; f < frames; ++f) {
    auto packet = encode_one(*encoder, std::span<const int16_t>(pcm).subspan(f * kModelFrameSamples,
                                                                             kModelFrameSamples));
    if (!packet) {
      return tl::unexpected(packet.error());
    }
    clip->packets.push_back(std::move(*packet));
  }

  const std::vector<Piece> pieces = pieces_of(clip->text);
  std::size_t total_letters = 0;
  for (const auto& piece : pieces) {
    total_letters += piece.letters;
  }
  const int64_t span = clip->speech_end_sample - clip->speech_start_sample;
  std::size_t letters_before = 0;
  for (const auto& piece : pieces) {
    const int64_t offset = total_letters == 0 ? 0
                                              : span * static_cast<int64_t>(letters_before) /
                                                    static_cast<int64_t>(total_letters);
    clip->pieces.push_back({piece.text, clip->speech_start_sample + offset});
    letters_before += piece.letters;
  }
  return std::shared_ptr<const SpeechClip>(std::move(clip));
}

std::mutex& cache_mutex() {
  static std::mutex m;
  return m;
}

// Caller holds cache_mutex(). Synthesis runs under the lock: simple, and only the first use of a
// sentence pays it.
tl::expected<std::shared_ptr<const SpeechClip>, std::string> cached_clip(const std::string& text,
                                                                         const std::string& voice) {
  static std::map<std::pair<std::string, std::string>, std::shared_ptr<const SpeechClip>> cache;
  auto key = std::make_pair(voice, collapse_spaces(text));
  if (auto it = cache.find(key); it != cache.end()) {
    return it->second;
  }
  auto clip = build_clip(key.second, voice);
  if (clip) {
    cache.emplace(std::move(key), *clip);
  }
  return clip;
}

// Caller holds cache_mutex().
tl::expected<std::shared_ptr<const SilencePackets>, std::string> cached_silence() {
  static std::shared_ptr<const SilencePackets> silence;
  if (silence) {
    return silence;
  }
  auto encoder = server_encoder();
  if (!encoder) {
    return tl::unexpected(encoder.error());
  }
  const std::vector<int16_t> zeros(kModelFrameSamples, 0);
  auto first = encode_one(*encoder, zeros);
  auto steady = first ? encode_one(*encoder, zeros) : first;
  if (!steady) {
    return tl::unexpected(steady.error());
  }
  auto made = std::make_shared<SilencePackets>();
  made->first = std::move(*first);
  made->steady = std::move(*steady);
  silence = std::move(made);
  return silence;
}

} // namespace

std::vector<std::string> segment_text(std::string_view text) {
  std::vector<std::string> out;
  for (auto& piece : pieces_of(text)) {
    out.push_back(std::move(piece.text));
  }
  return out;
}

tl::expected<std::shared_ptr<const SpeechBank>, std::string>
SpeechBank::create(const SpeechBankParams& params) {
  std::vector<std::string> replies;
  for (const auto& reply : params.replies) {
    if (!collapse_spaces(reply).empty()) {
      replies.push_back(reply);
    }
  }
  if (replies.empty()) {
    return tl::unexpected(std::string("the model needs at least one non-empty reply sentence"));
  }
  std::shared_ptr<SpeechBank> bank(new SpeechBank());
  std::lock_guard lock(cache_mutex());
  for (const auto& reply : replies) {
    auto clip = cached_clip(reply, params.tts_voice);
    if (!clip) {
      return tl::unexpected(clip.error());
    }
    bank->replies_.push_back(std::move(*clip));
  }
  if (!collapse_spaces(params.backchannel).empty()) {
    auto clip = cached_clip(params.backchannel, params.tts_voice);
    if (!clip) {
      return tl::unexpected(clip.error());
    }
    bank->backchannel_ = std::move(*clip);
  }
  auto silence = cached_silence();
  if (!silence) {
    return tl::unexpected(silence.error());
  }
  bank->silence_ = std::move(*silence);
  return std::shared_ptr<const SpeechBank>(std::move(bank));
}

} // namespace pv::sim
