#include "layers/swiglu.h"

namespace elephant::layers {

void swiglu_forward(const SwigluWeights& weights, const float* x, int64_t n_rows, float* out, SwigluScratch& scratch) {
  const SwigluTask task{&weights, x, n_rows, out};
  swiglu_forward_group(std::span(&task, 1), scratch);
}

void swiglu_forward_group(std::span<const SwigluTask> tasks, SwigluScratch& scratch) {
  size_t width = 0;
  for (const SwigluTask& task : tasks) width += static_cast<size_t>(task.n_rows * task.weights->gate.rows);
  if (scratch.gate.size() < width) {
    scratch.gate.resize(width);
    scratch.up.resize(width);
  }
  std::vector<ops::GatedMatmulTask>& gated = scratch.gated_tasks;
  std::vector<ops::MatmulTask>& down = scratch.down_tasks;
  gated.clear();
  down.clear();
  size_t offset = 0;
  for (const SwigluTask& task : tasks) {
    float* hidden = scratch.gate.data() + offset;
    gated.push_back({task.x, task.n_rows, &task.weights->gate, &task.weights->up, hidden, scratch.up.data() + offset});
    down.push_back({hidden, task.n_rows, &task.weights->down, task.out});
    offset += static_cast<size_t>(task.n_rows * task.weights->gate.rows);
  }
  ops::silu_gated_matmul_group(gated);
  ops::matmul_group(down);
}

}  // namespace elephant::layers
