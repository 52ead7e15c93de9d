#pragma once
// The one list of attention kernels. The CLI choices, TOML names, Python names and the typed
// tests all read it (DESIGN principle 3): a user-visible name equals the policy's name.
#include <array>
#include <string>
#include <string_view>

#include "attnflow/model.hpp"

namespace attnflow {

/// One registered kernel: its user-visible name, what it computes, and where it comes from.
struct KernelInfo {
  KernelKind kind;
  std::string_view name;
  std::string_view summary;
  std::string_view reference;
  bool normalized;  ///< rows of the attention matrix sum to one
};

/// Every kernel attnflow implements, in display order.
inline constexpr std::array<KernelInfo, 6> kKernels{{
    {KernelKind::softmax, "softmax",
     "a_ij = w_j e^{s_ij} / sum_k w_k e^{s_ik}, s_ij = beta <Q x_i, K x_j>", "[R] SA, [C] eq. (1)",
     true},
    {KernelKind::usa, "usa", "a_ij = w_j e^{s_ij} (unnormalised)", "[R] USA", false},
    {KernelKind::l2, "l2", "softmax of s_ij = -beta |Q x_i - K x_j|^2",
     "[C] L2 attention (Kim et al.)", true},
    {KernelKind::sigmoid, "sigmoid",
     "a_ij = w_j e^{-b} sigma(s_ij + b), b = model.sigmoid_bias (default -log N)",
     "[C] sigmoid attention (Ramapuram et al.)", false},
    {KernelKind::sinkhorn, "sinkhorn",
     "a_ij = w_j e^{f_i + g_j + s_ij}, rows and columns normalised",
     "[C] Sinkhorn attention (Sander et al.)", true},
    {KernelKind::hardmax, "hardmax",
     "a_ij = w_j / W_i on argmax_j s_ij (W_i its mass), 0 elsewhere", "[R] beta -> infinity limit",
     true},
}};

/// The registry entry of a kernel.
const KernelInfo& kernel_info(KernelKind kind);

/// Looks a kernel up by name; throws InputError(key, "unknown kernel 'x'; allowed: ...").
KernelKind kernel_from_name(std::string_view name, const std::string& key);

/// "softmax, usa": the allowed names, for messages and help texts.
std::string kernel_names();

}  // namespace attnflow
