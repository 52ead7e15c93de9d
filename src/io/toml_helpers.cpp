#include "attnflow/io/toml_helpers.hpp"

#include <algorithm>
#include <sstream>

#include "attnflow/error.hpp"

namespace attnflow::io::toml_util {

std::string type_name(const toml::node& n) {
  switch (n.type()) {
    case toml::node_type::table:
      return "a table";
    case toml::node_type::array:
      return "an array";
    case toml::node_type::string:
      return "a string";
    case toml::node_type::integer:
      return "an integer";
    case toml::node_type::floating_point:
      return "a float";
    case toml::node_type::boolean:
      return "a boolean";
    default:
      return "a date/time";
  }
}

std::string number_text(double v) {
  return format_number(v);
}

/// Refuses keys outside `allowed`, naming the allowed ones.
void check_keys(const toml::table& table, const std::string& section,
                std::initializer_list<std::string_view> allowed) {
  for (const auto& [key, node] : table) {
    if (std::find(allowed.begin(), allowed.end(), key.str()) != allowed.end()) continue;
    std::string list;
    for (std::string_view a : allowed) list += (list.empty() ? "" : ", ") + std::string(a);
    throw InputError(section + "." + std::string(key.str()), "unknown key; allowed: " + list);
  }
}

const toml::table* section_table(const toml::table& root, const std::string& name) {
  const toml::node* n = root.get(name);
  if (n == nullptr) return nullptr;
  if (!n->is_table())
    throw InputError(name, "must be a table ([" + name + "]), got " + type_name(*n));
  return n->as_table();
}

double to_number(const toml::node& n, const std::string& key) {
  if (const auto* f = n.as_floating_point()) return f->get();
  if (const auto* i = n.as_integer()) return static_cast<double>(i->get());
  throw InputError(key, "must be a number, got " + type_name(n));
}

double finite_number(const toml::node& n, const std::string& key) {
  const double v = to_number(n, key);
  if (!std::isfinite(v)) throw InputError(key, "must be a finite number, got " + number_text(v));
  return v;
}

double positive_number(const toml::node& n, const std::string& key) {
  const double v = finite_number(n, key);
  if (v <= 0.0) throw InputError(key, "must be finite and > 0, got " + number_text(v));
  return v;
}

std::int64_t to_integer(const toml::node& n, const std::string& key) {
  if (const auto* i = n.as_integer()) return i->get();
  throw InputError(key, "must be an integer, got " + type_name(n));
}

bool to_bool(const toml::node& n, const std::string& key) {
  if (const auto* b = n.as_boolean()) return b->get();
  throw InputError(key, "must be true or false, got " + type_name(n));
}

std::string to_string(const toml::node& n, const std::string& key) {
  if (const auto* s = n.as_string()) return s->get();
  throw InputError(key, "must be a string, got " + type_name(n));
}

std::vector<double> to_vector(const toml::node& n, const std::string& key) {
  const auto* a = n.as_array();
  if (a == nullptr) throw InputError(key, "must be an array of numbers, got " + type_name(n));
  std::vector<double> v;
  for (std::size_t i = 0; i < a->size(); ++i)
    v.push_back(finite_number(*a->get(i), key + "[" + std::to_string(i) + "]"));
  return v;
}

/// A matrix as a row-major array of arrays of numbers, all rows of one length.
Matrix to_matrix(const toml::node& n, const std::string& key) {
  const auto* rows = n.as_array();
  if (rows == nullptr || rows->empty())
    throw InputError(key, "must be a non-empty array of arrays of numbers (row-major)");
  std::size_t cols = 0;
  Matrix m;
  for (std::size_t r = 0; r < rows->size(); ++r) {
    const auto* row = rows->get(r)->as_array();
    if (row == nullptr)
      throw InputError(key, "must be an array of arrays of numbers (row-major); row " +
                                std::to_string(r) + " is " + type_name(*rows->get(r)));
    if (r == 0) {
      cols = row->size();
      if (cols == 0) throw InputError(key, "rows must not be empty");
      m.resize(static_cast<Index>(rows->size()), static_cast<Index>(cols));
    } else if (row->size() != cols) {
      throw InputError(key, "rows must all have the same length: row 0 has " +
                                std::to_string(cols) + " entries, row " + std::to_string(r) +
                                " has " + std::to_string(row->size()));
    }
    for (std::size_t c = 0; c < cols; ++c)
      m(static_cast<Index>(r), static_cast<Index>(c)) = finite_number(
          *row->get(c), key + "[" + std::to_string(r) + "][" + std::to_string(c) + "]");
  }
  return m;
}

/// Applies one `a.b.c=value` override to the parsed table.
void apply_override(toml::table& root, const std::string& assignment) {
  const auto eq = assignment.find('=');
  if (eq == std::string::npos || eq == 0)
    throw InputError("--set", "expected section.key=value, got '" + assignment + "'");
  const std::string path = assignment.substr(0, eq);
  const std::string value = assignment.substr(eq + 1);
  toml::node_view<toml::node> parsed_value;
  toml::table holder;
  try {
    holder = toml::parse("v = " + value);
  } catch (const toml::parse_error&) {
    holder = toml::table{};
    holder.insert("v", value);  // a bare word, e.g. --set model.kernel=usa
  }
  std::vector<std::string> parts;
  std::stringstream ss(path);
  for (std::string part; std::getline(ss, part, '.');) parts.push_back(part);
  toml::table* table = &root;
  for (std::size_t i = 0; i + 1 < parts.size(); ++i) {
    toml::node* child = table->get(parts[i]);
    if (child == nullptr) {
      table->insert(parts[i], toml::table{});
      child = table->get(parts[i]);
    }
    if (!child->is_table())
      throw InputError(path, "cannot set a key inside " + type_name(*child) + " with --set");
    table = child->as_table();
  }
  table->insert_or_assign(parts.back(), *holder.get("v"));
  // An override of one of two exclusive keys replaces the other one given in the file.
  if (parts.size() == 2 && parts[0] == "output") {
    if (parts[1] == "times") table->erase("every");
    if (parts[1] == "every") table->erase("times");
  }
}

toml::table parse_toml(const std::string& text) {
  try {
    return toml::parse(text);
  } catch (const toml::parse_error& e) {
    throw InputError("config", "TOML parse error at line " + std::to_string(e.source().begin.line) +
                                   ", column " + std::to_string(e.source().begin.column) + ": " +
                                   std::string(e.description()));
  }
}

}  // namespace attnflow::io::toml_util
