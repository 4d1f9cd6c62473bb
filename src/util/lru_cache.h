// A thread-safe least-recently-used cache of values keyed by string, bounded by the bytes
// each value is said to take (and optionally by a count). The process-wide caches of decoded
// data (array chunks, table row blocks, parsed Parquet footers) are instances of it: their
// data files are immutable and uniquely named, so an entry is never stale.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <list>
#include <mutex>
#include <string>
#include <tuple>
#include <unordered_map>
#include <utility>

namespace octavo {

// V is cheap to copy (a shared_ptr or a small struct of them); Find returns V{} on a miss.
template <typename V>
class LruCache {
 public:
  explicit LruCache(int64_t capacity_bytes, size_t max_entries = std::numeric_limits<size_t>::max())
      : capacity_(capacity_bytes), max_entries_(max_entries) {}

  V Find(const std::string& key) {
    std::lock_guard<std::mutex> g(mu_);
    auto it = map_.find(key);
    if (it == map_.end()) return V{};
    lru_.splice(lru_.begin(), lru_, it->second);
    return std::get<1>(*it->second);
  }

  // Stores `value` under `key` (replacing what was there) unless it takes over a quarter of
  // the capacity: it would flush every other. False when not stored.
  bool Put(const std::string& key, V value, int64_t bytes) {
    std::lock_guard<std::mutex> g(mu_);
    if (bytes > capacity_ / 4) return false;
    if (auto it = map_.find(key); it != map_.end()) {
      used_ -= std::get<2>(*it->second);
      lru_.erase(it->second);
      map_.erase(it);
    }
    lru_.emplace_front(key, std::move(value), bytes);
    map_[key] = lru_.begin();
    used_ += bytes;
    Evict();
    return true;
  }

  // 0 empties the cache and keeps it empty.
  void SetCapacity(int64_t bytes) {
    std::lock_guard<std::mutex> g(mu_);
    capacity_ = std::max<int64_t>(0, bytes);
    Evict();
  }
  int64_t capacity() {
    std::lock_guard<std::mutex> g(mu_);
    return capacity_;
  }

 private:
  void Evict() {
    while (!lru_.empty() && (used_ > capacity_ || lru_.size() > max_entries_)) {
      used_ -= std::get<2>(lru_.back());
      map_.erase(std::get<0>(lru_.back()));
      lru_.pop_back();
    }
  }

  std::mutex mu_;
  int64_t capacity_;
  size_t max_entries_;
  int64_t used_ = 0;
  std::list<std::tuple<std::string, V, int64_t>> lru_;
  std::unordered_map<std::string, typename decltype(lru_)::iterator> map_;
};

}  // namespace octavo
