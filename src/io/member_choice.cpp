#include "member_choice.hpp"

#include <algorithm>

#include "attnflow/error.hpp"

namespace attnflow::io::detail {

namespace {

/// "'a', 'b', 'c'", at most 20 names (a model file may hold thousands of tensors).
std::string listed(const std::vector<std::string>& names) {
  constexpr std::size_t kShown = 20;
  std::string text;
  for (std::size_t i = 0; i < std::min(names.size(), kShown); ++i)
    text += (i > 0 ? ", '" : "'") + names[i] + "'";
  if (names.size() > kShown) text += ", ... (" + std::to_string(names.size()) + " in all)";
  return text;
}

}  // namespace

std::string choose_member(const MemberChoice& choice, const std::string& wanted) {
  if (choice.names.empty())
    throw InputError(choice.path_key, "the file holds no " + choice.noun + "s");
  if (wanted.empty()) {
    if (choice.names.size() == 1) return choice.names.front();
    throw InputError(choice.select_key, "is required: the file holds " +
                                            std::to_string(choice.names.size()) + " " +
                                            choice.noun + "s: " + listed(choice.names));
  }
  if (std::find(choice.names.begin(), choice.names.end(), wanted) == choice.names.end())
    throw InputError(choice.select_key, "the file has no " + choice.noun + " '" + wanted +
                                            "'; it holds: " + listed(choice.names));
  return wanted;
}

}  // namespace attnflow::io::detail
