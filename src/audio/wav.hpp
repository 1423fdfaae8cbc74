#pragma once
// WAV (RIFF/WAVE) read and write for mono 16-bit PCM clips.
//
// Reading walks the RIFF chunk list with bounds checks on every length field; malformed, truncated
// or unsupported files give a WavError that says what is wrong (never a crash or an out-of-bounds
// read). Accepted: PCM (format 1, or WAVE_FORMAT_EXTENSIBLE with the PCM sub-format), 16-bit,
// 1 or 2 channels (stereo is averaged to mono), any sample rate 8000..192000. Chunks may come in
// any order; odd-sized chunks are followed by their pad byte; the RIFF size field is not trusted
// (streaming writers leave it 0 or 0xFFFFFFFF): the walk ends at the end of the bytes.
// Writing goes to a temporary file in the same directory and renames it into place, so a failed
// write never leaves a half-written file behind.
//
// Stateless functions: callable from any thread.

#include "audio/frame.hpp"

#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <vector>

#include <tl/expected.hpp>

namespace pv::audio {

enum class WavErrorKind {
  io,             // cannot open/read/write the file
  not_riff,       // no "RIFF....WAVE" header
  truncated,      // a header or chunk claims more bytes than the file holds
  missing_format, // no "fmt " chunk
  missing_data,   // no "data" chunk
  unsupported,    // valid WAV but not a format we accept (float, 24-bit, >2 channels, ...)
};

struct WavError {
  WavErrorKind kind;
  std::string message; // human-readable, includes the file name when known
};

tl::expected<PcmBuffer, WavError> parse_wav(std::span<const uint8_t> bytes,
                                            const std::string& name_for_errors = "<memory>");
tl::expected<PcmBuffer, WavError> read_wav(const std::filesystem::path& path);

// Serialises a 44-byte-header mono s16 WAV. A clip too large for RIFF's 32-bit sizes (over ~2^31
// samples) gives an empty vector (asserted in debug builds); write_wav reports it as unsupported.
std::vector<uint8_t> encode_wav(const PcmBuffer& pcm);
tl::expected<void, WavError> write_wav(const std::filesystem::path& path, const PcmBuffer& pcm);

} // namespace pv::audio
