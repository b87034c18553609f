// Reading untrusted JSON objects field by field, with errors that name the field: the C++
// twin of edgeface/schema.py's Fields, so that both runtimes refuse the same manifests
// with the same dotted paths (tests/conformance is the contract).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "error.h"

namespace edgeface {

using Json = nlohmann::ordered_json;  // ordered: template points keep the manifest's order

// Whether JSON text nests arrays and objects deeper than `limit` (checked before the
// recursive parser sees it; Python's parser raises RecursionError there).
bool nested_deeper_than(const std::string& text, size_t limit);

// Optional bounds of a number, as schema.py's lo/hi (inclusive) and above/below (strict).
struct Bounds {
  std::optional<double> lo, hi, above, below;
};

class Fields {
 public:
  // ``where`` is the dotted path of ``data`` ("manifest.models.detector").
  Fields(const Json& data, std::string where, std::string source);

  const Json& data() const { return *data_; }
  const std::string& where() const { return where_; }
  const std::string& source() const { return source_; }
  Error fail(const std::string& key, const std::string& what) const;

  bool has(const std::string& key) const;  // present and not null
  Fields sub(const std::string& key) const;
  std::string string(const std::string& key, const std::optional<std::string>& fallback = std::nullopt,
                     const std::vector<std::string>& choices = {}) const;
  double number(const std::string& key, std::optional<double> fallback = std::nullopt, Bounds bounds = {}) const;
  int64_t integer(const std::string& key, std::optional<int64_t> fallback = std::nullopt,
                  std::optional<int64_t> lo = std::nullopt, std::optional<int64_t> hi = std::nullopt) const;
  bool boolean(const std::string& key, std::optional<bool> fallback = std::nullopt) const;
  // A list of numbers: exactly ``length`` of them when given, else at least one.
  std::vector<double> numbers(const std::string& key, std::optional<size_t> length = std::nullopt,
                              const std::optional<std::vector<double>>& fallback = std::nullopt,
                              Bounds bounds = {}) const;
  std::vector<int64_t> integers(const std::string& key, const std::optional<std::vector<int64_t>>& fallback = std::nullopt,
                                std::optional<int64_t> lo = std::nullopt) const;
  std::vector<std::string> strings(const std::string& key,
                                   const std::optional<std::vector<std::string>>& fallback = std::nullopt) const;

 private:
  const Json* get(const std::string& key) const;  // nullptr when missing or null
  const Json& required(const std::string& key) const;
  void check_range(const std::string& key, double value, const Bounds& bounds) const;

  const Json* data_;
  std::string where_;
  std::string source_;
};

// A JSON integer's value, saturated into int64 (ranges are checked against int64 bounds).
int64_t integer_value(const Json& value);
// A value from a user's file for a message: its JSON text, at most ``limit`` characters.
std::string show(const Json& value, size_t limit = 60);
// A number as Python prints it in messages (0.001, 10000.0, 2048).
std::string show_number(double value);

}  // namespace edgeface
