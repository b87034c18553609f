// Field-by-field reading of untrusted JSON (see fields.h).
#include "fields.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>

namespace edgeface {

bool nested_deeper_than(const std::string& text, size_t limit) {
  size_t depth = 0;
  bool in_string = false, escaped = false;
  for (char c : text) {
    if (in_string) {
      if (escaped) escaped = false;
      else if (c == '\\') escaped = true;
      else if (c == '"') in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > limit) return true;
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return false;
}
namespace {

bool is_integer(const Json& v) { return v.is_number_integer(); }  // false for booleans and floats

bool is_finite_number(const Json& v) { return v.is_number() && std::isfinite(v.get<double>()); }

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& item : items) out += (out.empty() ? "" : ", ") + item;
  return out;
}

}  // namespace

int64_t integer_value(const Json& v) {
  if (v.is_number_unsigned()) {
    const uint64_t u = v.get<uint64_t>();
    return u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) ? std::numeric_limits<int64_t>::max()
                                                                           : static_cast<int64_t>(u);
  }
  return v.get<int64_t>();
}

std::string show(const Json& value, size_t limit) {
  std::string text = value.dump(-1, ' ', true, Json::error_handler_t::replace);
  return text.size() <= limit ? text : text.substr(0, limit - 3) + "...";
}

std::string show_number(double value) {
  char text[64];
  std::snprintf(text, sizeof text, "%.17g", value);
  for (int digits = 1; digits <= 17; ++digits) {  // the shortest text that reads back the same
    std::snprintf(text, sizeof text, "%.*g", digits, value);
    if (std::strtod(text, nullptr) == value) break;
  }
  return text;
}

Fields::Fields(const Json& data, std::string where, std::string source)
    : data_(&data), where_(std::move(where)), source_(std::move(source)) {
  if (!data.is_object()) {
    const std::string field = where_.rfind("manifest.", 0) == 0 ? where_.substr(9) : "";
    throw Error(Category::kManifest, source_ + ": " + where_ + ": expected an object, got " + show(data), field);
  }
}

Error Fields::fail(const std::string& key, const std::string& what) const {
  const std::string path = where_ + "." + key;
  const std::string field = path.rfind("manifest.", 0) == 0 ? path.substr(9) : path;
  return Error(Category::kManifest, source_ + ": " + path + ": " + what, field);
}

const Json* Fields::get(const std::string& key) const {
  auto found = data_->find(key);
  return found == data_->end() || found->is_null() ? nullptr : &*found;
}

const Json& Fields::required(const std::string& key) const {
  const Json* value = get(key);
  if (!value) throw fail(key, "is required but missing");
  return *value;
}

bool Fields::has(const std::string& key) const { return get(key) != nullptr; }

Fields Fields::sub(const std::string& key) const { return Fields(required(key), where_ + "." + key, source_); }

std::string Fields::string(const std::string& key, const std::optional<std::string>& fallback,
                           const std::vector<std::string>& choices) const {
  const Json* value = get(key);
  if (!value && fallback) return *fallback;
  if (!value) value = &required(key);
  if (!value->is_string()) throw fail(key, "expected a string, got " + show(*value));
  const std::string text = value->get<std::string>();
  if (!choices.empty() && std::find(choices.begin(), choices.end(), text) == choices.end()) {
    throw fail(key, "expected one of " + join(choices) + "; got " + show(*value));
  }
  return text;
}

void Fields::check_range(const std::string& key, double value, const Bounds& b) const {
  const std::string got = show_number(value);
  if (b.lo && value < *b.lo) throw fail(key, "must be >= " + show_number(*b.lo) + ", got " + got);
  if (b.hi && value > *b.hi) throw fail(key, "must be <= " + show_number(*b.hi) + ", got " + got);
  if (b.above && !(value > *b.above)) throw fail(key, "must be > " + show_number(*b.above) + ", got " + got);
  if (b.below && !(value < *b.below)) throw fail(key, "must be < " + show_number(*b.below) + ", got " + got);
}

double Fields::number(const std::string& key, std::optional<double> fallback, Bounds bounds) const {
  const Json* value = get(key);
  if (!value && fallback) return *fallback;
  if (!value) value = &required(key);
  if (!is_finite_number(*value)) throw fail(key, "expected a finite number, got " + show(*value));
  const double number = value->get<double>();
  check_range(key, number, bounds);
  return number;
}

int64_t Fields::integer(const std::string& key, std::optional<int64_t> fallback, std::optional<int64_t> lo,
                        std::optional<int64_t> hi) const {
  const Json* value = get(key);
  if (!value && fallback) return *fallback;
  if (!value) value = &required(key);
  if (!is_integer(*value)) throw fail(key, "expected an integer, got " + show(*value));
  const int64_t number = integer_value(*value);
  if (lo && number < *lo) throw fail(key, "must be >= " + std::to_string(*lo) + ", got " + show(*value));
  if (hi && number > *hi) throw fail(key, "must be <= " + std::to_string(*hi) + ", got " + show(*value));
  return number;
}

bool Fields::boolean(const std::string& key, std::optional<bool> fallback) const {
  const Json* value = get(key);
  if (!value && fallback) return *fallback;
  if (!value) value = &required(key);
  if (!value->is_boolean()) throw fail(key, "expected true or false, got " + show(*value));
  return value->get<bool>();
}

std::vector<double> Fields::numbers(const std::string& key, std::optional<size_t> length,
                                    const std::optional<std::vector<double>>& fallback, Bounds bounds) const {
  const Json* value = get(key);
  if (!value && fallback) return *fallback;
  if (!value) value = &required(key);
  bool ok = value->is_array() && !value->empty() && (!length || value->size() == *length);
  for (size_t i = 0; ok && i < value->size(); ++i) ok = is_finite_number((*value)[i]);
  if (!ok) {
    const std::string want = length ? "a list of " + std::to_string(*length) + " numbers" : "a list of numbers";
    throw fail(key, "expected " + want + ", got " + show(*value));
  }
  std::vector<double> out;
  for (const Json& item : *value) out.push_back(item.get<double>());
  for (double v : out) {
    if (bounds.lo && v < *bounds.lo) throw fail(key, "every value must be >= " + show_number(*bounds.lo) + ", got " + show(*value));
  }
  for (double v : out) {
    if (bounds.hi && v > *bounds.hi) throw fail(key, "every value must be <= " + show_number(*bounds.hi) + ", got " + show(*value));
  }
  return out;
}

std::vector<int64_t> Fields::integers(const std::string& key, const std::optional<std::vector<int64_t>>& fallback,
                                      std::optional<int64_t> lo) const {
  const Json* value = get(key);
  if (!value && fallback) return *fallback;
  if (!value) value = &required(key);
  bool ok = value->is_array() && !value->empty();
  for (size_t i = 0; ok && i < value->size(); ++i) ok = is_integer((*value)[i]);
  if (!ok) throw fail(key, "expected a non-empty list of integers, got " + show(*value));
  std::vector<int64_t> out;
  for (const Json& item : *value) out.push_back(integer_value(item));
  for (int64_t v : out) {
    if (lo && v < *lo) throw fail(key, "every value must be >= " + std::to_string(*lo) + ", got " + show(*value));
  }
  return out;
}

std::vector<std::string> Fields::strings(const std::string& key,
                                         const std::optional<std::vector<std::string>>& fallback) const {
  const Json* value = get(key);
  if (!value && fallback) return *fallback;
  if (!value) value = &required(key);
  bool ok = value->is_array();
  for (size_t i = 0; ok && i < value->size(); ++i) ok = (*value)[i].is_string();
  if (!ok) throw fail(key, "expected a list of strings, got " + show(*value));
  std::vector<std::string> out;
  for (const Json& item : *value) out.push_back(item.get<std::string>());
  return out;
}

}  // namespace edgeface
