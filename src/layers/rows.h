// Rows are the unit of work in a step: a prefill chunk, the decode tokens of many sequences and
// (later) beam hypotheses are all rows. A row belongs to a sequence (its KV-cache slot) and sits at
// a position in it.
#pragma once

#include <cstdint>
#include <vector>

namespace elephant::layers {

struct RowBatch {
  std::vector<int32_t> tokens;     // [n_rows] token id of each row
  std::vector<int32_t> positions;  // [n_rows] position of the row in its sequence
  std::vector<int32_t> slots;      // [n_rows] KV-cache slot of the row's sequence

  int64_t size() const { return static_cast<int64_t>(tokens.size()); }
  void add(int32_t token, int32_t position, int32_t slot) {
    tokens.push_back(token);
    positions.push_back(position);
    slots.push_back(slot);
  }
};

}  // namespace elephant::layers
