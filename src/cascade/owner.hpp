#pragma once
// util::ThreadOwner for value types: moving an object hands it over unbound, so the moved-to
// object binds to the first thread that uses it (construction and use often happen on different
// threads: built by the backend at start(), used by its worker).

#include "util/thread_owner.hpp"

namespace pv::cascade {

struct MovableThreadOwner {
  util::ThreadOwner owner;
  MovableThreadOwner() = default;
  MovableThreadOwner(MovableThreadOwner&&) noexcept {}
  MovableThreadOwner& operator=(MovableThreadOwner&&) noexcept {
    owner.release();
    return *this;
  }
  bool is_owner() const { return owner.is_owner(); }
};

} // namespace pv::cascade
