#pragma once
// pocketsphinx 5prealpha (CMU, BSD-2) as the embedded ASR, fed frame by frame.
//
// Model vs stream state (whisper.cpp's context/state split, as far as pocketsphinx allows):
//  * PocketsphinxAsr is the model context: it validates the model files once and owns a pool of
//    decoders. A decoder (ps_decoder_t: acoustic model + dictionary + LM or grammar, ~0.4 s to
//    load) is created once and reused for every later utterance; the binary LM and the acoustic
//    model are mmap'd, so extra decoders share those pages. pocketsphinx has no API to share one
//    loaded model between two decoders, so concurrent utterances each need their own decoder:
//    up to `max_decoders` (default 1: a cascade backend decodes one user at a time).
//  * PocketsphinxSession is the per-utterance stream state: it borrows a decoder for its lifetime
//    (ps_start_utt .. ps_end_utt) and gives it back on finish/cancel/destruction.
// Threads: the provider is thread-safe (pool under a mutex held only to take/return a decoder).
// A session runs on its owner thread: push() costs ~0.1-0.2x the audio duration in CPU
// (2-3 ms per 20 ms frame), finish() only decodes the tail (~2.5 ms; see bench_cascade_providers).
// start_utterance() blocks only when it must load a new decoder (~0.4 s); with all decoders busy
// it fails at once with `busy`.
// pocketsphinx's own logging is silenced (-logfn /dev/null); its log state is process-global.

#include "cascade/asr/asr_provider.hpp"

#include <memory>
#include <string>

namespace pv::cascade {

struct PocketsphinxParams {
  std::string model_dir; // contains en-us/en-us, en-us/en-us.lm.bin, en-us/cmudict-en-us.dict;
                         // empty = the Debian model dir found at build time
  std::string grammar;   // JSGF file (ASR_GRAMMAR); when set it replaces the language model
  int max_decoders = 1;  // concurrent utterances
  // The fwdflat + bestpath passes re-search the whole utterance in finish(): with them finish()
  // takes ~130 ms for a 4 s utterance instead of ~2.5 ms (bench_cascade_providers), for ~3 points
  // of word accuracy on flite speech (0.98 vs 0.95). Off by default: finish() only decodes the
  // tail.
  bool second_pass = false;
  bool preload = true; // load the first decoder in create() (not at the first utterance)
};

class PocketsphinxAsr final : public AsrProvider {
public:
  static tl::expected<std::unique_ptr<PocketsphinxAsr>, ProviderError>
  create(const PocketsphinxParams& params);
  ~PocketsphinxAsr() override;

  std::string_view name() const override { return "pocketsphinx"; }
  AsrCapabilities capabilities() const override { return {true, 16000}; }
  tl::expected<std::unique_ptr<AsrSession>, ProviderError>
  start_utterance(const AsrUtteranceParams& params) override;

  // Decoders currently loaded (in use or idle).
  int loaded_decoders() const;

  struct Pool; // decoder pool shared with live sessions

private:
  explicit PocketsphinxAsr(std::shared_ptr<Pool> pool);
  std::shared_ptr<Pool> pool_;
};

std::string default_pocketsphinx_model_dir();

} // namespace pv::cascade
