#include "kernels/cuda/moe_ffn.h"

#include <fmt/format.h>

#include "core/error.h"

namespace elephant::cuda {

namespace {

void check_shape(const kernels::WeightMatrix& w, int64_t rows, int64_t cols, const std::string& what) {
  if (w.rows != rows || w.cols != cols) fail("{}: shape [{}, {}], expected [{}, {}]", what, w.rows, w.cols, rows, cols);
}

DeviceBuffer<MatrixView> upload_views(const std::vector<DeviceMatrix>& matrices) {
  std::vector<MatrixView> views;
  views.reserve(matrices.size());
  for (const DeviceMatrix& m : matrices) views.push_back(m.view());
  return to_device(views);
}

}  // namespace

DeviceMoeFfn::DeviceMoeFfn(const kernels::WeightMatrix& router, std::span<const ExpertWeights> experts, int top_k,
                           bool renormalize, int64_t max_rows, std::string_view what,
                           std::shared_ptr<MoeScratch> scratch)
    : n_experts_(static_cast<int>(experts.size())),
      top_k_(top_k),
      renormalize_(renormalize),
      max_rows_(max_rows),
      scratch_(scratch != nullptr ? std::move(scratch) : std::make_shared<MoeScratch>()) {
  if (n_experts_ == 0 || n_experts_ > kMaxRouterExperts) {
    fail("{}: {} experts; the CUDA router handles 1 to {}", what, n_experts_, kMaxRouterExperts);
  }
  if (top_k < 1 || top_k > kMaxTopK || top_k > n_experts_) {
    fail("{}: top_k {} with {} experts; the CUDA kernels need 1 ≤ top_k ≤ min({}, experts)", what, top_k, n_experts_,
         kMaxTopK);
  }
  if (router.format != kernels::WeightFormat::kDense) fail("{}: the router must stay full precision", what);
  hidden_ = router.cols;
  expert_ffn_ = experts[0].gate.rows;
  check_shape(router, n_experts_, hidden_, fmt::format("{} router", what));
  router_ = DeviceMatrix::upload(pack_for_device(router, fmt::format("{} router", what)));
  for (int e = 0; e < n_experts_; ++e) {
    const ExpertWeights& expert = experts[static_cast<size_t>(e)];
    const std::string name = fmt::format("{} expert {}", what, e);
    check_shape(expert.gate, expert_ffn_, hidden_, name + " gate");
    check_shape(expert.up, expert_ffn_, hidden_, name + " up");
    check_shape(expert.down, hidden_, expert_ffn_, name + " down");
    HostPackedMatrix gate = pack_for_device(expert.gate, name + " gate");
    HostPackedMatrix up = pack_for_device(expert.up, name + " up");
    HostPackedMatrix down = pack_for_device(expert.down, name + " down");
    if (e == 0) expert_format_ = gate.format;
    for (const HostPackedMatrix* m : {&gate, &up, &down}) {
      if (m->format != expert_format_) {
        fail("{}: stored as {}, but expert 0 is {}; the grouped kernels need one format for all experts", name,
             device_format_name(m->format), device_format_name(expert_format_));
      }
    }
    gates_.push_back(DeviceMatrix::upload(gate));
    ups_.push_back(DeviceMatrix::upload(up));
    downs_.push_back(DeviceMatrix::upload(down));
  }
  gate_views_ = upload_views(gates_);
  up_views_ = upload_views(ups_);
  down_views_ = upload_views(downs_);
  const int64_t max_assignments = max_rows * top_k;
  experts_ = DeviceBuffer<int32_t>(static_cast<size_t>(max_assignments));
  weights_ = DeviceBuffer<float>(static_cast<size_t>(max_assignments));
  permute_workspace_ = DeviceBuffer<uint8_t>(permute_workspace_bytes(max_assignments, n_experts_));
  offsets_ = DeviceBuffer<int32_t>(static_cast<size_t>(n_experts_) + 2);
  slot_assignment_ = DeviceBuffer<int32_t>(static_cast<size_t>(max_assignments));
  slot_row_ = DeviceBuffer<int32_t>(static_cast<size_t>(max_assignments));
  position_of_ = DeviceBuffer<int32_t>(static_cast<size_t>(max_assignments));
  tiles_ = DeviceBuffer<int32_t>(static_cast<size_t>(expert_gemm_tile_capacity(max_assignments, n_experts_)));
  const auto hidden_act_floats = static_cast<size_t>(max_assignments * expert_ffn_);
  const auto expert_out_floats = static_cast<size_t>(max_assignments * hidden_);
  if (scratch_->hidden_act.size() < hidden_act_floats) scratch_->hidden_act = DeviceBuffer<float>(hidden_act_floats);
  if (scratch_->expert_out.size() < expert_out_floats) scratch_->expert_out = DeviceBuffer<float>(expert_out_floats);
  // cudaMemcpy from pageable memory may return before the data lands; forward may use a stream
  // that is not ordered after the legacy default stream the uploads went through.
  ELEPHANT_CUDA_CHECK(cudaDeviceSynchronize());
}

void DeviceMoeFfn::forward(const float* x, int64_t n_rows, const uint8_t* active, const float* residual, float* out,
                           cudaStream_t stream) {
  if (n_rows > max_rows_) fail("CUDA MoE forward: {} rows, but the workspace was sized for {}", n_rows, max_rows_);
  if (n_rows == 0) return;
  const int64_t n_assignments = n_rows * top_k_;
  launch_route_softmax_top_k(x, n_rows, router_.view(), router_.format(), top_k_, renormalize_, active,
                             experts_.data(), weights_.data(), stream);
  launch_permute(experts_.data(), n_assignments, top_k_, n_experts_, permute_workspace_.data(),
                 permute_workspace_.size(), offsets_.data(), slot_assignment_.data(), slot_row_.data(),
                 position_of_.data(), stream);

  ExpertMatmul gate_up;
  gate_up.x = x;
  gate_up.x_stride = hidden_;
  gate_up.slot_row = slot_row_.data();
  gate_up.offsets = offsets_.data();
  gate_up.n_experts = n_experts_;
  gate_up.max_slots = n_assignments;
  gate_up.a_views = gate_views_.data();
  gate_up.b_views = up_views_.data();
  gate_up.format = expert_format_;
  gate_up.out_features = static_cast<int32_t>(expert_ffn_);
  gate_up.in_features = static_cast<int32_t>(hidden_);
  gate_up.y = scratch_->hidden_act.data();
  gate_up.y_stride = expert_ffn_;

  ExpertMatmul down = gate_up;
  down.x = scratch_->hidden_act.data();
  down.x_stride = expert_ffn_;
  down.slot_row = nullptr;
  down.a_views = down_views_.data();
  down.b_views = nullptr;
  down.out_features = static_cast<int32_t>(hidden_);
  down.in_features = static_cast<int32_t>(expert_ffn_);
  down.y = scratch_->expert_out.data();
  down.y_stride = hidden_;

  // The per-expert counts stay on the device; the expected count picks the path.
  if (n_assignments <= kGemvMaxSlots * n_experts_) {
    launch_expert_gemv(gate_up, stream);
    launch_expert_gemv(down, stream);
  } else {
    launch_expert_gemm_tiled(gate_up, tiles_.data(), stream);
    launch_expert_gemm_tiled(down, tiles_.data(), stream);
  }
  launch_moe_finalize(experts_.data(), weights_.data(), position_of_.data(), n_rows, top_k_, n_experts_,
                      scratch_->expert_out.data(), hidden_, 1.0f, residual, out, stream);
}

size_t DeviceMoeFfn::weight_bytes() const {
  size_t bytes = router_.bytes();
  for (const auto* matrices : {&gates_, &ups_, &downs_}) {
    for (const DeviceMatrix& m : *matrices) bytes += m.bytes();
  }
  return bytes;
}

std::vector<int32_t> DeviceMoeFfn::last_offsets(cudaStream_t stream) const {
  ELEPHANT_CUDA_CHECK(cudaStreamSynchronize(stream));
  return offsets_.download();
}

}  // namespace elephant::cuda
