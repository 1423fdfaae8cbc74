#include "cascade/asr/pocketsphinx_asr.hpp"

#include "cascade/owner.hpp"

#include <filesystem>
#include <mutex>
#include <sstream>
#include <vector>

#include <pocketsphinx.h>

namespace pv::cascade {

#ifndef PV_POCKETSPHINX_MODELDIR
#define PV_POCKETSPHINX_MODELDIR "/usr/share/pocketsphinx/model"
#endif

std::string default_pocketsphinx_model_dir() {
  return PV_POCKETSPHINX_MODELDIR;
}

struct PocketsphinxAsr::Pool {
  std::string hmm;
  std::string lm;
  std::string dict;
  std::string grammar;
  int max_decoders = 1;
  bool second_pass = false;

  std::mutex mutex;
  std::vector<ps_decoder_t*> idle;
  int loaded = 0;

  ~Pool() {
    for (ps_decoder_t* ps : idle) {
      ps_free(ps);
    }
  }

  // Loads a new decoder (~0.4 s). Called without the mutex held.
  tl::expected<ps_decoder_t*, ProviderError> load() const {
    // -lm and -jsgf together make ps_init fail: a grammar replaces the language model.
    cmd_ln_t* config =
        grammar.empty()
            ? cmd_ln_init(nullptr, ps_args(), TRUE, "-hmm", hmm.c_str(), "-lm", lm.c_str(), "-dict",
                          dict.c_str(), "-logfn", "/dev/null", nullptr)
            : cmd_ln_init(nullptr, ps_args(), TRUE, "-hmm", hmm.c_str(), "-jsgf", grammar.c_str(),
                          "-dict", dict.c_str(), "-logfn", "/dev/null", nullptr);
    if (config == nullptr) {
      return tl::unexpected(
          make_error(ProviderErrorKind::model_load, "pocketsphinx: invalid decoder configuration"));
    }
    if (!second_pass) {
      cmd_ln_set_boolean_r(config, "-fwdflat", FALSE);
      cmd_ln_set_boolean_r(config, "-bestpath", FALSE);
    }
    ps_decoder_t* ps = ps_init(config);
    cmd_ln_free_r(config); // the decoder keeps its own reference
    if (ps == nullptr) {
      return tl::unexpected(make_error(
          ProviderErrorKind::model_load,
          grammar.empty() ? "pocketsphinx: cannot load the model from " + hmm
                          : "pocketsphinx: cannot load grammar '" + grammar +
                                "' (JSGF syntax error, or a word missing from the dictionary?)"));
    }
    return ps;
  }

  tl::expected<ps_decoder_t*, ProviderError> acquire() {
    {
      std::lock_guard lock(mutex);
      if (!idle.empty()) {
        ps_decoder_t* ps = idle.back();
        idle.pop_back();
        return ps;
      }
      if (loaded >= max_decoders) {
        return tl::unexpected(make_error(ProviderErrorKind::busy, "pocketsphinx: all " +
                                                                      std::to_string(max_decoders) +
                                                                      " decoders are in use"));
      }
      ++loaded; // reserve the slot before the slow load
    }
    auto ps = load();
    if (!ps) {
      std::lock_guard lock(mutex);
      --loaded;
    }
    return ps;
  }

  void release(ps_decoder_t* ps) {
    std::lock_guard lock(mutex);
    idle.push_back(ps);
  }
};

namespace {

std::string normalise_hypothesis(const char* hyp) {
  if (hyp == nullptr) {
    return {};
  }
  std::istringstream words(hyp);
  std::string word;
  std::string out;
  while (words >> word) {
    if (word.front() == '<' || word.front() == '[') {
      continue; // fillers such as <sil> or [NOISE]
    }
    if (!out.empty()) {
      out += ' ';
    }
    out += word;
  }
  return out;
}

class PocketsphinxSession final : public AsrSession {
public:
  PocketsphinxSession(std::shared_ptr<PocketsphinxAsr::Pool> pool, ps_decoder_t* ps,
                      const AsrUtteranceParams& params)
      : pool_(std::move(pool)), ps_(ps), params_(params),
        max_samples_(static_cast<int64_t>(params.max_audio_ms) * 16) {}

  ~PocketsphinxSession() override { end_and_release(); }

  tl::expected<void, ProviderError> push(std::span<const int16_t> pcm) override {
    PV_ASSERT_OWNER(owner_);
    if (ps_ == nullptr) {
      return tl::unexpected(
          make_error(ProviderErrorKind::bad_input, "pocketsphinx: push() after finish/cancel"));
    }
    if (params_.cancel.cancelled()) {
      end_and_release();
      return tl::unexpected(make_error(ProviderErrorKind::cancelled, "pocketsphinx: cancelled"));
    }
    if (samples_ + static_cast<int64_t>(pcm.size()) > max_samples_) {
      return tl::unexpected(make_error(ProviderErrorKind::bad_input,
                                       "pocketsphinx: utterance exceeds " +
                                           std::to_string(params_.max_audio_ms) + " ms"));
    }
    if (pcm.empty()) {
      return {};
    }
    if (ps_process_raw(ps_, pcm.data(), pcm.size(), FALSE, FALSE) < 0) {
      end_and_release();
      return tl::unexpected(make_error(ProviderErrorKind::internal, "ps_process_raw failed"));
    }
    samples_ += static_cast<int64_t>(pcm.size());
    return {};
  }

  tl::expected<Transcript, ProviderError> finish() override {
    PV_ASSERT_OWNER(owner_);
    if (ps_ == nullptr) {
      return tl::unexpected(
          make_error(ProviderErrorKind::bad_input, "pocketsphinx: finish() after finish/cancel"));
    }
    if (params_.cancel.cancelled()) {
      end_and_release();
      return tl::unexpected(make_error(ProviderErrorKind::cancelled, "pocketsphinx: cancelled"));
    }
    const auto started = Clock::now();
    const int ended = ps_end_utt(ps_);
    int32 score = 0;
    Transcript transcript;
    transcript.text = ended < 0 ? std::string() : normalise_hypothesis(ps_get_hyp(ps_, &score));
    transcript.audio_ms = samples_ / 16;
    transcript.finish_ms =
        std::chrono::duration<double, std::milli>(Clock::now() - started).count();
    pool_->release(std::exchange(ps_, nullptr));
    if (ended < 0) {
      return tl::unexpected(make_error(ProviderErrorKind::internal, "ps_end_utt failed"));
    }
    return transcript;
  }

  void cancel() override {
    PV_ASSERT_OWNER(owner_);
    end_and_release();
  }

private:
  void end_and_release() {
    if (ps_ != nullptr) {
      ps_end_utt(ps_); // a decoder must not be reused mid-utterance
      pool_->release(std::exchange(ps_, nullptr));
    }
  }

  std::shared_ptr<PocketsphinxAsr::Pool> pool_;
  ps_decoder_t* ps_;
  AsrUtteranceParams params_;
  int64_t max_samples_;
  int64_t samples_ = 0;
  MovableThreadOwner owner_;
};

} // namespace

tl::expected<std::unique_ptr<PocketsphinxAsr>, ProviderError>
PocketsphinxAsr::create(const PocketsphinxParams& params) {
  namespace fs = std::filesystem;
  if (params.max_decoders < 1 || params.max_decoders > 16) {
    return tl::unexpected(
        make_error(ProviderErrorKind::config, "pocketsphinx: max_decoders must be 1..16"));
  }
  const fs::path dir =
      params.model_dir.empty() ? default_pocketsphinx_model_dir() : params.model_dir;
  auto pool = std::make_shared<Pool>();
  pool->hmm = (dir / "en-us" / "en-us").string();
  pool->lm = (dir / "en-us" / "en-us.lm.bin").string();
  pool->dict = (dir / "en-us" / "cmudict-en-us.dict").string();
  pool->grammar = params.grammar;
  pool->max_decoders = params.max_decoders;
  pool->second_pass = params.second_pass;
  std::error_code ec;
  for (const std::string* path : {&pool->hmm, &pool->lm, &pool->dict}) {
    if (!fs::exists(*path, ec)) {
      return tl::unexpected(
          make_error(ProviderErrorKind::config, "pocketsphinx model file missing: " + *path +
                                                    " (install pocketsphinx-en-us)"));
    }
  }
  if (!params.grammar.empty() && !fs::is_regular_file(params.grammar, ec)) {
    return tl::unexpected(
        make_error(ProviderErrorKind::config, "ASR_GRAMMAR file not found: " + params.grammar));
  }
  if (params.preload) {
    auto ps = pool->acquire();
    if (!ps) {
      return tl::unexpected(ps.error());
    }
    pool->release(*ps);
  }
  return std::unique_ptr<PocketsphinxAsr>(new PocketsphinxAsr(std::move(pool)));
}

PocketsphinxAsr::PocketsphinxAsr(std::shared_ptr<Pool> pool) : pool_(std::move(pool)) {}
PocketsphinxAsr::~PocketsphinxAsr() = default;

int PocketsphinxAsr::loaded_decoders() const {
  std::lock_guard lock(pool_->mutex);
  return pool_->loaded;
}

tl::expected<std::unique_ptr<AsrSession>, ProviderError>
PocketsphinxAsr::start_utterance(const AsrUtteranceParams& params) {
  if (params.sample_rate_hz != 16000) {
    return tl::unexpected(
        make_error(ProviderErrorKind::bad_input, "pocketsphinx needs 16000 Hz audio, got " +
                                                     std::to_string(params.sample_rate_hz)));
  }
  if (params.max_audio_ms <= 0) {
    return tl::unexpected(make_error(ProviderErrorKind::bad_input, "max_audio_ms must be > 0"));
  }
  if (params.cancel.cancelled()) {
    return tl::unexpected(make_error(ProviderErrorKind::cancelled, "pocketsphinx: cancelled"));
  }
  auto ps = pool_->acquire();
  if (!ps) {
    return tl::unexpected(ps.error());
  }
  if (ps_start_utt(*ps) < 0) {
    pool_->release(*ps);
    return tl::unexpected(make_error(ProviderErrorKind::internal, "ps_start_utt failed"));
  }
  return std::unique_ptr<AsrSession>(new PocketsphinxSession(pool_, *ps, params));
}

} // namespace pv::cascade
