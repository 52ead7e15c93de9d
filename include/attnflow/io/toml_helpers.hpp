#pragma once
// Small helpers shared by the TOML configuration parsers (src/io/config.cpp for `attnflow run`,
// src/io/reduce_config.cpp for the reduced-model commands): typed reads that fail with an
// InputError naming the key, strict key lists, and `--set section.key=value` overrides.
#include <toml++/toml.h>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

#include "attnflow/types.hpp"

namespace attnflow::io::toml_util {

/// "a table", "an array", "a string", ...: how a node is named in messages.
std::string type_name(const toml::node& n);

/// The shortest text that reads back as the same double (format_number).
std::string number_text(double v);

/// Refuses keys outside `allowed`, naming the allowed ones: InputError("<section>.<key>", ...).
void check_keys(const toml::table& table, const std::string& section,
                std::initializer_list<std::string_view> allowed);

/// The sub-table `name` of root, nullptr if absent; InputError(name, ...) if not a table.
const toml::table* section_table(const toml::table& root, const std::string& name);

/// A number (integer or float) as double; InputError(key, "must be a number, got ...").
double to_number(const toml::node& n, const std::string& key);
/// A finite number; InputError(key, "must be a finite number, got ...").
double finite_number(const toml::node& n, const std::string& key);
/// A finite number > 0; InputError(key, "must be finite and > 0, got ...").
double positive_number(const toml::node& n, const std::string& key);
/// An integer; InputError(key, "must be an integer, got ...").
std::int64_t to_integer(const toml::node& n, const std::string& key);
/// A boolean; InputError(key, "must be true or false, got ...").
bool to_bool(const toml::node& n, const std::string& key);
/// A string; InputError(key, "must be a string, got ...").
std::string to_string(const toml::node& n, const std::string& key);
/// An array of finite numbers; InputError(key or key[i], ...).
std::vector<double> to_vector(const toml::node& n, const std::string& key);
/// A matrix as a row-major array of arrays of finite numbers, all rows of one length.
Matrix to_matrix(const toml::node& n, const std::string& key);

/// Applies one `a.b.c=value` override to the parsed table (values are TOML; a bare word is taken
/// as a string). Setting output.times erases output.every and vice versa.
void apply_override(toml::table& root, const std::string& assignment);

/// Parses TOML text; a syntax error is InputError("config", "TOML parse error at line L, column C:
/// ...").
toml::table parse_toml(const std::string& text);

}  // namespace attnflow::io::toml_util
