#include "audio/wav.hpp"

#include <array>
#include <cassert>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <limits>
#include <optional>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace pv::audio {
namespace {

constexpr uint16_t kFormatPcm = 1;
constexpr uint16_t kFormatExtensible = 0xFFFE;
// KSDATAFORMAT_SUBTYPE_PCM without its first two bytes (which hold the format tag, 1).
constexpr std::array<uint8_t, 14> kPcmGuidTail = {0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80,
                                                  0x00, 0x00, 0xAA, 0x00, 0x38, 0x9B, 0x71};
// RIFF sizes are 32-bit: the data chunk plus 36 header bytes must fit.
constexpr std::size_t kMaxWavSamples = (std::numeric_limits<uint32_t>::max() - 36) / 2;
constexpr int kMinRateHz = 8000;
constexpr int kMaxRateHz = 192000;

uint16_t le16(const uint8_t* p) {
  return static_cast<uint16_t>(p[0] | (p[1] << 8));
}
uint32_t le32(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) | (static_cast<uint32_t>(p[1]) << 8) |
         (static_cast<uint32_t>(p[2]) << 16) | (static_cast<uint32_t>(p[3]) << 24);
}

void put16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v & 0xFF);
  p[1] = static_cast<uint8_t>(v >> 8);
}
void put32(uint8_t* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) {
    p[i] = static_cast<uint8_t>((v >> (8 * i)) & 0xFF);
  }
}

WavError make_error(WavErrorKind kind, const std::string& name, const std::string& what) {
  return WavError{kind, name + ": " + what};
}

struct Chunk {
  std::size_t offset = 0; // of the chunk body
  std::size_t size = 0;
};

struct Format {
  uint16_t tag = 0;
  uint16_t channels = 0;
  uint32_t rate = 0;
  uint16_t block_align = 0;
  uint16_t bits = 0;
};

tl::expected<Format, WavError> parse_format(std::span<const uint8_t> body,
                                            const std::string& name) {
  if (body.size() < 16) {
    return tl::unexpected(
        make_error(WavErrorKind::truncated, name,
                   "fmt chunk of " + std::to_string(body.size()) + " bytes (need at least 16)"));
  }
  Format f;
  f.tag = le16(&body[0]);
  f.channels = le16(&body[2]);
  f.rate = le32(&body[4]);
  f.block_align = le16(&body[12]);
  f.bits = le16(&body[14]);

  if (f.tag == kFormatExtensible) {
    // cbSize(2) validBits(2) channelMask(4) subFormat GUID(16) follow the 16 basic bytes.
    if (body.size() < 40) {
      return tl::unexpected(make_error(WavErrorKind::truncated, name,
                                       "WAVE_FORMAT_EXTENSIBLE fmt chunk of " +
                                           std::to_string(body.size()) + " bytes (need 40)"));
    }
    uint16_t const sub_tag = le16(&body[24]);
    bool const pcm_guid = std::memcmp(&body[26], kPcmGuidTail.data(), kPcmGuidTail.size()) == 0;
    if (sub_tag != kFormatPcm || !pcm_guid) {
      return tl::unexpected(
          make_error(WavErrorKind::unsupported, name,
                     "extensible sub-format " + std::to_string(sub_tag) + " is not integer PCM"));
    }
    uint16_t const valid_bits = le16(&body[18]);
    if (valid_bits != 0 && valid_bits != 16) {
      return tl::unexpected(
          make_error(WavErrorKind::unsupported, name,
                     std::to_string(valid_bits) + " valid bits per sample (only 16 supported)"));
    }
  } else if (f.tag != kFormatPcm) {
    std::string const what =
        f.tag == 3 ? "IEEE float samples" : "format tag " + std::to_string(f.tag);
    return tl::unexpected(
        make_error(WavErrorKind::unsupported, name, what + " (only 16-bit integer PCM supported)"));
  }
  if (f.bits != 16) {
    return tl::unexpected(
        make_error(WavErrorKind::unsupported, name,
                   std::to_string(f.bits) + "-bit samples (only 16-bit supported)"));
  }
  if (f.channels != 1 && f.channels != 2) {
    return tl::unexpected(
        make_error(WavErrorKind::unsupported, name,
                   std::to_string(f.channels) + " channels (only mono or stereo supported)"));
  }
  if (f.rate < kMinRateHz || f.rate > kMaxRateHz) {
    return tl::unexpected(
        make_error(WavErrorKind::unsupported, name,
                   "sample rate " + std::to_string(f.rate) + " Hz (supported: 8000..192000)"));
  }
  if (f.block_align != f.channels * 2) {
    return tl::unexpected(make_error(WavErrorKind::unsupported, name,
                                     "block align " + std::to_string(f.block_align) + " for " +
                                         std::to_string(f.channels) + " x 16-bit channels"));
  }
  return f;
}

} // namespace

tl::expected<PcmBuffer, WavError> parse_wav(std::span<const uint8_t> bytes,
                                            const std::string& name_for_errors) {
  const std::string& name = name_for_errors;
  if (bytes.size() < 12) {
    if (bytes.size() >= 4 && std::memcmp(bytes.data(), "RIFF", 4) == 0) {
      return tl::unexpected(
          make_error(WavErrorKind::truncated, name,
                     "RIFF header cut short (" + std::to_string(bytes.size()) + " bytes)"));
    }
    return tl::unexpected(
        make_error(WavErrorKind::not_riff, name,
                   bytes.empty() ? "empty file" : "too short for a RIFF/WAVE header"));
  }
  if (std::memcmp(bytes.data(), "RIFF", 4) != 0 || std::memcmp(bytes.data() + 8, "WAVE", 4) != 0) {
    return tl::unexpected(make_error(WavErrorKind::not_riff, name, "no RIFF....WAVE header"));
  }

  std::optional<Chunk> fmt;
  std::optional<Chunk> data;
  std::size_t pos = 12;
  // Fewer than 8 trailing bytes cannot hold a chunk header: some writers leave a stray byte.
  while (bytes.size() - pos >= 8) {
    const uint8_t* header = bytes.data() + pos;
    std::size_t const size = le32(header + 4);
    std::size_t const body = pos + 8;
    std::size_t const available = bytes.size() - body;
    std::string const tag(reinterpret_cast<const char*>(header), 4);
    if (size > available) {
      return tl::unexpected(make_error(WavErrorKind::truncated, name,
                                       "chunk '" + tag + "' claims " + std::to_string(size) +
                                           " bytes but only " + std::to_string(available) +
                                           " remain"));
    }
    if (tag == "fmt " && !fmt) {
      fmt = Chunk{body, size};
    } else if (tag == "data" && !data) {
      data = Chunk{body, size};
    }
    // Chunks are word-aligned: an odd-sized chunk is followed by one pad byte (which may be
    // missing at the very end of a file).
    pos = body + size + (size & 1);
    if (pos >= bytes.size()) {
      break;
    }
  }

  if (!fmt) {
    return tl::unexpected(make_error(WavErrorKind::missing_format, name, "no 'fmt ' chunk"));
  }
  if (!data) {
    return tl::unexpected(make_error(WavErrorKind::missing_data, name, "no 'data' chunk"));
  }
  auto format = parse_format(bytes.subspan(fmt->offset, fmt->size), name);
  if (!format) {
    return tl::unexpected(format.error());
  }
  if (data->size % format->block_align != 0) {
    return tl::unexpected(make_error(WavErrorKind::truncated, name,
                                     "data chunk of " + std::to_string(data->size) +
                                         " bytes is not a whole number of " +
                                         std::to_string(format->block_align) + "-byte frames"));
  }

  PcmBuffer pcm;
  pcm.sample_rate = static_cast<int>(format->rate);
  std::size_t const frames = data->size / format->block_align;
  pcm.samples.resize(frames);
  const uint8_t* p = bytes.data() + data->offset;
  if (format->channels == 1) {
    for (std::size_t i = 0; i < frames; ++i) {
      pcm.samples[i] = static_cast<int16_t>(le16(p + 2 * i));
    }
  } else {
    for (std::size_t i = 0; i < frames; ++i) {
      int const left = static_cast<int16_t>(le16(p + 4 * i));
      int const right = static_cast<int16_t>(le16(p + 4 * i + 2));
      // Floor division keeps the mean in range; the half-LSB bias is inaudible.
      pcm.samples[i] = static_cast<int16_t>((left + right) >> 1);
    }
  }
  return pcm;
}

tl::expected<PcmBuffer, WavError> read_wav(const std::filesystem::path& path) {
  std::string const name = path.string();
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return tl::unexpected(
        make_error(WavErrorKind::io, name, std::string("cannot open: ") + std::strerror(errno)));
  }
  std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)),
                             std::istreambuf_iterator<char>());
  if (in.bad()) {
    return tl::unexpected(make_error(WavErrorKind::io, name, "read error"));
  }
  return parse_wav(bytes, name);
}

std::vector<uint8_t> encode_wav(const PcmBuffer& pcm) {
  if (pcm.samples.size() > kMaxWavSamples) {
    assert(false && "clip too large for RIFF's 32-bit sizes");
    return {};
  }
  std::size_t const data_bytes = pcm.samples.size() * 2;
  std::vector<uint8_t> out(44 + data_bytes);
  uint8_t* p = out.data();
  auto const rate = static_cast<uint32_t>(pcm.sample_rate);
  std::memcpy(p, "RIFF", 4);
  put32(p + 4, static_cast<uint32_t>(36 + data_bytes));
  std::memcpy(p + 8, "WAVEfmt ", 8);
  put32(p + 16, 16);
  put16(p + 20, kFormatPcm);
  put16(p + 22, 1); // channels
  put32(p + 24, rate);
  put32(p + 28, rate * 2); // byte rate
  put16(p + 32, 2);        // block align
  put16(p + 34, 16);       // bits
  std::memcpy(p + 36, "data", 4);
  put32(p + 40, static_cast<uint32_t>(data_bytes));
  for (std::size_t i = 0; i < pcm.samples.size(); ++i) {
    put16(p + 44 + 2 * i, static_cast<uint16_t>(pcm.samples[i]));
  }
  return out;
}

tl::expected<void, WavError> write_wav(const std::filesystem::path& path, const PcmBuffer& pcm) {
  std::string const name = path.string();
  if (pcm.samples.size() > kMaxWavSamples) {
    return tl::unexpected(make_error(WavErrorKind::unsupported, name, "clip too large for WAV"));
  }
  std::vector<uint8_t> const bytes = encode_wav(pcm);

  // mkstemp in the target's directory so that rename() is atomic (same file system).
  std::filesystem::path const dir = path.has_parent_path() ? path.parent_path() : ".";
  std::string tmp = (dir / (path.filename().string() + ".tmp.XXXXXX")).string();
  int const fd = ::mkstemp(tmp.data());
  if (fd < 0) {
    return tl::unexpected(
        make_error(WavErrorKind::io, name,
                   std::string("cannot create temporary file: ") + std::strerror(errno)));
  }
  auto fail = [&](const char* step) {
    int const err = errno;
    ::unlink(tmp.c_str());
    return tl::unexpected(
        make_error(WavErrorKind::io, name, std::string(step) + ": " + std::strerror(err)));
  };

  std::size_t written = 0;
  while (written < bytes.size()) {
    ssize_t const n = ::write(fd, bytes.data() + written, bytes.size() - written);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      ::close(fd);
      return fail("write failed");
    }
    written += static_cast<std::size_t>(n);
  }
  // mkstemp creates 0600; a clip is an ordinary shareable file.
  if (::fchmod(fd, 0644) != 0) {
    ::close(fd);
    return fail("chmod failed");
  }
  if (::fsync(fd) != 0) {
    ::close(fd);
    return fail("fsync failed");
  }
  if (::close(fd) != 0) {
    return fail("close failed");
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    return fail("rename into place failed");
  }
  return {};
}

} // namespace pv::audio
