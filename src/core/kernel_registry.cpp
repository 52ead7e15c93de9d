#include "attnflow/kernel_registry.hpp"

#include "attnflow/error.hpp"

namespace attnflow {

const KernelInfo& kernel_info(KernelKind kind) {
  for (const KernelInfo& k : kKernels)
    if (k.kind == kind) return k;
  return kKernels.front();  // unreachable: every KernelKind is registered (tested)
}

KernelKind kernel_from_name(std::string_view name, const std::string& key) {
  for (const KernelInfo& k : kKernels)
    if (k.name == name) return k.kind;
  throw InputError(key, "unknown kernel '" + std::string(name) + "'; allowed: " + kernel_names());
}

std::string kernel_names() {
  std::string names;
  for (const KernelInfo& k : kKernels) {
    if (!names.empty()) names += ", ";
    names += k.name;
  }
  return names;
}

}  // namespace attnflow
